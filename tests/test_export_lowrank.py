"""The exact LoRA pairs behind every export: run as the loaders run them (conv pair with the base
stride / padding, linear pair), in float64, they add exactly what the adapter adds; layers no pair
can reproduce (dilated, grouped, transposed, reflect-padded convs) are refused with the reason."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lava_vision.adapters import AdapterConfig, adapter_layers, inject, set_adapter
from lava_vision.export import lowrank_form

torch.set_num_threads(1)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv3 = nn.Conv2d(6, 5, 3, stride=2, padding=1)
        self.conv53 = nn.Conv2d(6, 4, (5, 3), padding=(2, 0))  # non-square: K1 (height) vs K2 (width)
        self.conv1 = nn.Conv2d(6, 4, 1)
        self.qkv = nn.Linear(7, 9)  # fused: three chunks of 3, chunks 0 and 2 adapted
        self.fc = nn.Linear(7, 3)
        self.dilated = nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        self.grouped = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.reflect = nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")
        self.up = nn.ConvTranspose2d(4, 3, 2, stride=2)


def adapted(method="lava", **kw) -> Toy:
    torch.manual_seed(0)
    model = Toy().double()
    cfg = dict(method=method, rank=2, alpha=3.0, lam=0.0, targets=["*"])
    if method == "lava":
        cfg["fused"] = {"qkv": "qkv->qv"}
    cfg.update(kw)
    inject(model, AdapterConfig(**cfg))
    g = torch.Generator().manual_seed(1)
    for _, layer in adapter_layers(model):
        for n in layer.factor_names:
            p = getattr(layer, n)
            p.data = torch.randn(p.shape, generator=g, dtype=torch.float64)
    return model


def run_pair(pair, conv: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """What PEFT / kohya loaders add: lora_B(lora_A(x)); lora_A carries kernel, stride, padding."""
    if conv is None:
        return x @ pair.down.t() @ pair.up.t()
    if pair.mid is not None:  # LyCORIS Tucker: 1x1 down, mid with the base geometry, 1x1 up
        h = F.conv2d(F.conv2d(x, pair.down), pair.mid, stride=conv.stride, padding=conv.padding)
        return F.conv2d(h, pair.up)
    return F.conv2d(F.conv2d(x, pair.down, stride=conv.stride, padding=conv.padding), pair.up)


@pytest.mark.parametrize("method", ["lava", "lora"])
@pytest.mark.parametrize("tucker", [False, True])
@pytest.mark.parametrize("weight", [1.0, -0.6])
def test_pairs_add_what_the_adapter_adds(method, tucker, weight):
    """weight: the adapter active alone at that weight (``set_adapter``): the pair (PEFT's and
    kohya's, Tucker core included) adds what the layer then adds, the weight folded in."""
    model = adapted(method)
    if weight != 1.0:
        set_adapter(model, {"default": weight})
    layers = dict(adapter_layers(model))
    x_img, x_vec = torch.randn(2, 6, 9, 8, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    for name in ("conv3", "conv53", "conv1", "qkv", "fc"):
        layer = layers[name]
        pair = lowrank_form(layer, tucker=tucker)
        conv = layer.base_layer if isinstance(layer.base_layer, nn.Conv2d) else None
        x = x_img if conv is not None else x_vec
        want = layer(x) - layer.base_layer(x)
        assert want.abs().max() > 0.1, name
        assert torch.allclose(run_pair(pair, conv, x), want, rtol=0, atol=1e-10), (method, tucker, name)
        has_mid = tucker and method == "lava" and name in ("conv3", "conv53")
        assert (pair.mid is not None) == has_mid, name
    if method == "lava":  # two adapted chunks of rank 2 -> one rank-4 pair
        assert lowrank_form(layers["qkv"]).rank == 4


def test_cp_pair_layout_is_the_kohya_locon_one():
    """down = V o K1 o K2 (R x c_in x kh x kw), up = s U (c_out x R x 1 x 1), by explicit sums."""
    layer = dict(adapter_layers(adapted()))["conv53"]
    pair = lowrank_form(layer)
    assert pair.down.shape == (2, 6, 5, 3) and pair.up.shape == (4, 2, 1, 1)
    for r in range(2):
        assert torch.allclose(pair.down[r], layer.V[:, r, None, None] * layer.K1[None, :, r, None]
                              * layer.K2[None, None, :, r], atol=1e-14)
        assert torch.allclose(pair.up[:, r, 0, 0], layer.scale * layer.U[:, r], atol=1e-14)


def test_layers_without_an_exact_pair_are_refused_with_the_reason():
    layers = dict(adapter_layers(adapted()))
    assert "dilation=(2, 2)" in lowrank_form(layers["dilated"])
    assert "groups=2" in lowrank_form(layers["grouped"])
    assert "padding_mode='reflect'" in lowrank_form(layers["reflect"])
    assert "transposed" in lowrank_form(layers["up"])
