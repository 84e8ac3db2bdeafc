"""Merged export: the base with W + dW in the base's own format, reloaded by the base's own loader
(transformers ``from_pretrained``, ``Sam.load_state_dict``, timm ``load_state_dict``) with the
adapted outputs, every layer included (transposed and dilated convs too); the adapted model is
left bit for bit as it was."""
import copy
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from lava_vision.adapters import AdapterConfig, adapter_layers, inject, merge
from lava_vision.export import export_merged

sys.path.insert(0, str(Path(__file__).parent))
import tiny_models as tm  # noqa: E402

torch.set_num_threads(1)


def adapted(base: nn.Module, cfg: AdapterConfig) -> nn.Module:
    model = copy.deepcopy(base)
    inject(model, cfg)
    g = torch.Generator().manual_seed(0)
    for _, layer in adapter_layers(model):
        for n in layer.factor_names:
            p = getattr(layer, n)
            p.data = 0.2 * torch.randn(p.shape, generator=g)
    return model.eval()


def assert_close(got: torch.Tensor, want: torch.Tensor, base: torch.Tensor) -> None:
    assert (want - base).abs().max() > 1e-3 * base.abs().max()
    assert torch.allclose(got, want, rtol=0, atol=1e-5 * want.abs().max().item())


def test_depth_anything_merged_is_a_transformers_folder(tmp_path):
    from transformers import DepthAnythingForDepthEstimation

    base = tm.tiny_depth_anything_fan_in()
    model = adapted(base, AdapterConfig(rank=2, alpha=2.0, lam=0.0, preset="depth_anything"))
    assert any(isinstance(layer.base_layer, nn.ConvTranspose2d) for _, layer in adapter_layers(model))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = export_merged(model, tmp_path)
    assert report.not_exported == {} and "config.json" in report.files
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # untouched, adapters kept
    plain = DepthAnythingForDepthEstimation.from_pretrained(tmp_path).eval()
    x = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        assert_close(plain(pixel_values=x).predicted_depth, model(pixel_values=x).predicted_depth,
                     base(pixel_values=x).predicted_depth)


def test_sam_merged_state_dict_loads_into_sam(tmp_path):
    base = tm.tiny_sam().eval()
    model = adapted(base, AdapterConfig(rank=2, alpha=2.0, lam=0.0, preset="sam"))
    merge(model)  # an already merged model exports the same weights (dW is not added twice)
    report = export_merged(model, tmp_path)
    assert report.files == ["model.safetensors"]
    fresh = tm.tiny_sam().eval()
    fresh.load_state_dict(load_file(str(tmp_path / "model.safetensors")))  # strict: the base's own keys
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert_close(tm.sam_forward(fresh, x), tm.sam_forward(model, x), tm.sam_forward(base, x))


class Dilated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=2, dilation=2)
        self.tied = nn.Linear(4, 4)
        self.tied_again = self.tied  # shared weights: safetensors needs them as separate copies

    def forward(self, x):
        return self.tied_again(self.conv(x).mean((2, 3)))


def test_dilated_conv_merges_exactly(tmp_path):
    torch.manual_seed(0)
    base = Dilated().eval()
    model = adapted(base, AdapterConfig(rank=2, alpha=2.0, lam=0.0, targets=["conv"]))
    export_merged(model, tmp_path)
    fresh = Dilated().eval()
    fresh.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        assert_close(fresh(x), model(x), base(x))
