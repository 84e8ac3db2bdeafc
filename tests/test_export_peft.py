"""PEFT export checked by PEFT itself: ``PeftModel.from_pretrained(base, folder)`` on the plain base
reproduces the adapted model's outputs, CP convs included, on a toy net, a timm ResNet (CP convs +
a new head in modules_to_save), the tiny Depth-Anything (DINOv2 linears + DPT convs) and the tiny
SAM (fused qkv as one block pair, neck convs). Layers PEFT cannot express exactly (a dilated conv,
transposed convs) are in the report with the reason, their tensors absent, never approximated;
``strict=True`` refuses them, naming them, before writing anything."""
import copy
import functools
import json
import sys
from pathlib import Path

import peft
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from lava_vision.adapters import AdapterConfig, adapter_layers, inject
from lava_vision.export import export, export_merged, export_peft

sys.path.insert(0, str(Path(__file__).parent))
import tiny_models as tm  # noqa: E402

torch.set_num_threads(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.dilated = nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        self.blocks = nn.ModuleList([nn.Linear(4, 6), nn.Linear(6, 4)])
        self.aux = nn.ModuleDict({"fc": nn.Linear(4, 4)})  # PEFT's suffix rule also wraps this "fc"
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = self.dilated(self.conv(x)).mean((2, 3))
        for b in self.blocks:
            h = torch.tanh(b(h))
        return self.fc(self.aux["fc"](h))


def randomise(model: nn.Module, std: float = 0.3) -> None:
    g = torch.Generator().manual_seed(0)
    for _, layer in adapter_layers(model):
        for n in layer.factor_names:
            p = getattr(layer, n)
            p.data = std * torch.randn(p.shape, generator=g, dtype=p.dtype)


def export_and_load(base: nn.Module, cfg: AdapterConfig, folder: Path, std: float = 0.3):
    """(lava model, PEFT model loaded from the export, report) with random trained-like factors."""
    model = copy.deepcopy(base)
    inject(model, cfg)
    randomise(model, std)
    for name in model.__dict__.get("_lava_state").plan.saved_modules:
        for p in model.get_submodule(name).parameters():
            p.data.add_(0.5)
    report = export_peft(model, folder)
    loaded = peft.PeftModel.from_pretrained(copy.deepcopy(base), folder).eval()
    return model.eval(), loaded, report


def lora_modules(model: nn.Module) -> set[str]:
    from peft.tuners.lora import LoraLayer

    return {n.removeprefix("base_model.model.") for n, m in model.named_modules() if isinstance(m, LoraLayer)}


def close(got: torch.Tensor, want: torch.Tensor, base: torch.Tensor) -> None:
    assert (want - base).abs().max() > 1e-3 * base.abs().max()  # the adapter matters (>> the tolerance below)
    assert torch.allclose(got, want, rtol=0, atol=1e-5 * want.abs().max().item())


def test_toy_net_dilated_conv_is_reported_not_approximated(tmp_path):
    torch.manual_seed(0)
    base = Net().eval()
    cfg = AdapterConfig(rank=2, alpha=3.0, lam=0.0, targets=["conv", "dilated", "blocks.*"], modules_to_save=["fc"],
                        overrides={"blocks.1": {"rank": 1, "alpha": 5.0}})
    model, loaded, report = export_and_load(base, cfg, tmp_path)
    assert set(report.not_exported) == {"dilated"} and "dilation=(2, 2)" in report.not_exported["dilated"]
    assert not any(".dilated." in k for k in load_file(str(tmp_path / "adapter_model.safetensors")))
    assert json.loads((tmp_path / "export_report.json").read_text())["not_exported"] == report.not_exported
    assert lora_modules(loaded) == {"conv", "blocks.0", "blocks.1"}
    model.dilated.disabled = True  # what was exported: everything but the dilated conv's update
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        close(loaded(x), model(x), base(x))


def test_strict_refuses_before_writing_and_names_the_layers(tmp_path):
    model = Net()
    inject(model, AdapterConfig(rank=2, lam=0.0, targets=["conv", "dilated", "blocks.*"]))
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    for target in (tmp_path / "new", existing):
        for write in (export_peft, functools.partial(export, format="peft")):
            with pytest.raises(ValueError, match=r"strict peft export: 1 layer\(s\).*nothing written: "
                                                 r"dilated \(Conv2d with dilation=\(2, 2\)"):
                write(model, target, strict=True)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in existing.iterdir()] == ["keep.txt"] and (existing / "keep.txt").read_text() == "mine"
    assert export_merged(model, tmp_path / "merged", strict=True).not_exported == {}  # merged holds every layer
    report = export_peft(model, tmp_path / "lenient")  # strict=False: written, the dilated conv reported
    assert set(report.not_exported) == {"dilated"} and (tmp_path / "lenient" / "adapter_model.safetensors").is_file()


def test_strict_error_names_the_first_five_layers(tmp_path):
    model = nn.Sequential(*[nn.Conv2d(2, 2, 3, dilation=2) for _ in range(7)])
    inject(model, AdapterConfig(rank=1, lam=0.0, targets=["*"]))
    with pytest.raises(ValueError) as e:
        export_peft(model, tmp_path / "peft", strict=True)
    listed = "; " + str(e.value).split("nothing written: ")[1]
    assert [i for i in range(7) if f"; {i} (Conv2d with dilation=(2, 2)" in listed] == [0, 1, 2, 3, 4]
    assert str(e.value).startswith("strict peft export: 7 layer(s)")
    assert listed.endswith("; and 2 more (strict=False lists them all in export_report.json)")
    assert not (tmp_path / "peft").exists()


def test_timm_resnet_cp_convs_and_new_head(tmp_path):
    base = tm.timm_model("resnet18", num_classes=5).eval()
    cfg = AdapterConfig(rank=2, alpha=2.0, lam=0.0, preset="cnn", modules_to_save=["fc"])
    model, loaded, report = export_and_load(base, cfg, tmp_path, std=0.2)
    assert report.not_exported == {} and report.exported["fc"].startswith("modules_to_save")
    assert lora_modules(loaded) == {n for n, _ in adapter_layers(model)}  # every conv, stride-2 1x1s included
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        close(loaded(x), model(x), base(x))


def test_tiny_depth_anything_linears_and_dpt_convs(tmp_path):
    base = tm.tiny_depth_anything_fan_in()
    cfg = AdapterConfig(rank=2, alpha=2.0, lam=0.0, preset="depth_anything")
    model, loaded, report = export_and_load(base, cfg, tmp_path, std=0.2)
    transposed = {n for n, layer in adapter_layers(model) if isinstance(layer.base_layer, nn.ConvTranspose2d)}
    assert transposed and set(report.not_exported) == transposed
    assert all("transposed" in why for why in report.not_exported.values())
    kinds = {type(layer.base_layer).__name__ for n, layer in adapter_layers(model) if n not in transposed}
    assert kinds == {"Linear", "Conv2d"}
    assert lora_modules(loaded) == {n for n, _ in adapter_layers(model)} - transposed
    for n in transposed:
        model.get_submodule(n).disabled = True
    x = torch.randn(1, 3, 28, 28)
    outs = [head_features(m, x) for m in (loaded.base_model.model, model, base)]
    for got, want, ref in zip(*outs):
        close(got, want, ref)


def head_features(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The DPT head's last hidden features (input of head.conv3: every neck conv and head.conv1/2
    before it) and the predicted depth."""
    seen = []
    hook = model.head.conv3.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    with torch.no_grad():
        depth = model(pixel_values=x).predicted_depth
    hook.remove()
    return [seen[0], depth]


def test_tiny_sam_fused_qkv_and_neck_convs(tmp_path):
    base = tm.tiny_sam().eval()
    cfg = AdapterConfig(rank=2, alpha=2.0, lam=0.0, preset="sam", fused={"*.attn.qkv": "qkv->qv"})
    model, loaded, report = export_and_load(base, cfg, tmp_path, std=0.2)
    assert set(report.not_exported) == {"mask_decoder.output_upscaling.0", "mask_decoder.output_upscaling.3"}
    a = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert a["base_model.model.image_encoder.blocks.0.attn.qkv.lora_A.weight"].shape == (4, 32)  # q and v: 2 x rank 2
    assert "base_model.model.image_encoder.neck.2.lora_A.weight" in a  # the 3x3 neck conv, CP
    for n in report.not_exported:
        model.get_submodule(n).disabled = True
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        close(tm.sam_forward(loaded.base_model.model, x), tm.sam_forward(model, x), tm.sam_forward(base, x))


def test_full_fine_tuning_has_no_peft_form(tmp_path):
    model = Net()
    inject(model, AdapterConfig(method="full"))
    with pytest.raises(ValueError, match="merged"):
        export_peft(model, tmp_path)


def test_export_each_strict_checks_every_adapter_before_writing_any(tmp_path):
    """``good`` is exportable, ``bad`` adapts the dilated conv: the strict refusal names ``bad`` and
    its layer, and no folder (``good``'s included) is written, as the message says."""
    from lava_vision.export.multi import export_each

    model = Net()
    inject(model, AdapterConfig(rank=2, lam=0.0, targets=["conv", "blocks.*"]), name="good")
    inject(model, AdapterConfig(rank=2, lam=0.0, targets=["dilated", "blocks.0"]), name="bad")
    with pytest.raises(ValueError, match=r"adapter 'bad'.*nothing written.*dilated \(Conv2d with dilation"):
        export_each(model, tmp_path / "each", "peft", strict=True)
    assert not (tmp_path / "each").exists()
    reports = export_each(model, tmp_path / "each", "peft")  # lenient: both written, the conv reported
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == ["bad", "good"]
    assert reports["good"].not_exported == {} and set(reports["bad"].not_exported) == {"dilated"}
