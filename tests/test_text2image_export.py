"""Export: kohya/LyCORIS tensors rebuild dW exactly (float64 reference from the factors) and run
like the adapter; the merged diffusers UNet reloads with the adapted model's outputs."""
import torch
import torch.nn.functional as F
from torch import nn

from lava_vision.adapters import AdapterConfig, adapter_layers, inject
from lava_vision.tasks.text2image.export import kohya_state_dict, save_kohya

torch.set_num_threads(1)


class Toy(nn.Module):
    """Names like an SDXLDiffusion: the layers sit under ``unet.``."""

    def __init__(self):
        super().__init__()
        self.unet = nn.ModuleDict({
            "conv3": nn.Conv2d(6, 5, 3, stride=2, padding=1),
            "conv1": nn.Conv2d(6, 4, 1),
            "to_q": nn.Linear(7, 3),
            "grouped": nn.Conv2d(4, 4, 3, padding=1, groups=2),
        })


def randomise(model):
    g = torch.Generator().manual_seed(0)
    for _, layer in adapter_layers(model):
        for n in layer.factor_names:
            p = getattr(layer, n)
            p.data = torch.randn(p.shape, generator=g, dtype=torch.float64)
        layer.base_layer.double()


def reference_delta(layer) -> torch.Tensor:
    """dW from the factors by an explicit float64 sum of outer products (independent of delta_weight)."""
    s = layer.scale
    if hasattr(layer, "U"):  # CP conv: sum_r U o V o K1 o K2
        terms = [layer.U[:, r, None, None, None] * layer.V[None, :, r, None, None]
                 * layer.K1[None, None, :, r, None] * layer.K2[None, None, None, :, r] for r in range(layer.rank)]
        return s * torch.stack(terms).sum(0)
    w = layer.base_layer.weight
    return s * (layer.B @ layer.A).reshape(w.shape)  # LoRA: flattened kernel / linear


def rebuild(t: dict, key: str) -> torch.Tensor:
    """The loaders' formula (ComfyUI / LyCORIS): (alpha / R) * up . [mid] . down, in float64."""
    up, down = t[f"{key}.lora_up.weight"].double(), t[f"{key}.lora_down.weight"].double()
    scale = t[f"{key}.alpha"].item() / down.shape[0]
    if f"{key}.lora_mid.weight" in t:
        return scale * torch.einsum("oa,abhw,bi->oihw", up.flatten(1), t[f"{key}.lora_mid.weight"].double(),
                                    down.flatten(1))
    w = (up.flatten(1) @ down.flatten(1))
    return scale * (w.reshape(up.shape[0], *down.shape[1:]) if down.dim() == 4 else w)


def test_lava_layers_export_exactly():
    model = Toy()
    inject(model, AdapterConfig(method="lava", rank=3, alpha=6.0, lam=0.0, targets=["unet.*"]))
    randomise(model)
    tensors, skipped = kohya_state_dict(model)
    assert set(skipped) == {"unet.grouped"}
    assert tensors["lora_unet_conv3.lora_mid.weight"].shape == (3, 3, 3, 3)
    assert "lora_unet_conv1.lora_mid.weight" not in tensors
    layers = dict(adapter_layers(model))
    for name in ("conv3", "conv1", "to_q"):
        got = rebuild(tensors, f"lora_unet_{name}")
        ref = reference_delta(layers[f"unet.{name}"])
        assert torch.allclose(got, ref, rtol=1e-12, atol=1e-12), name
        assert ref.abs().max() > 0.1


def test_tucker_layers_run_like_the_adapter():
    """Running down (1x1) -> mid (base stride/padding) -> up (1x1) as LyCORIS does equals the
    adapter's added output."""
    model = Toy()
    inject(model, AdapterConfig(method="lava", rank=3, alpha=3.0, lam=0.0, targets=["unet.conv3"]))
    randomise(model)
    t, _ = kohya_state_dict(model)
    layer = model.unet["conv3"]
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    k = "lora_unet_conv3"
    h = F.conv2d(x, t[f"{k}.lora_down.weight"].double())
    h = F.conv2d(h, t[f"{k}.lora_mid.weight"].double(), stride=2, padding=1)
    lyco = F.conv2d(h, t[f"{k}.lora_up.weight"].double()) * (t[f"{k}.alpha"].item() / 3)
    assert torch.allclose(layer(x) - layer.base_layer(x), lyco, atol=1e-10)


def test_lora_baseline_convs_export_flat(tmp_path):
    model = Toy()
    inject(model, AdapterConfig(method="lora", rank=2, alpha=4.0, targets=["unet.conv3", "unet.to_q"]))
    randomise(model)
    path, skipped = save_kohya(model, tmp_path / "lora.safetensors", dtype=torch.float64)
    from safetensors.torch import load_file

    t = load_file(str(path))
    assert skipped == {} and "lora_unet_conv3.lora_mid.weight" not in t
    layers = dict(adapter_layers(model))
    for name in ("conv3", "to_q"):
        assert torch.allclose(rebuild(t, f"lora_unet_{name}"), reference_delta(layers[f"unet.{name}"]), atol=1e-12)
