"""Named adapters and mixes checked by the ecosystem's own multi-adapter code on our exports:

* PEFT, timm ResNet (CP convs exported as conv LoRA pairs), float64: ``set_adapter`` on two loaded
  PEFT folders equals ours; ``add_weighted_adapter(combination_type="cat")`` (exactly
  sum_i w_i dW_i) equals our mix, negative and > 1 weights included; ``"linear"`` equals it where
  the two coincide (adapters on disjoint layers, same rank: no cross terms);
* ``combine_adapters``: the mix as one adapter of rank R_a + R_b where both adapt a layer equals the
  mix, and its PEFT export (one lora pair per layer, rank read from the file) loads to the same;
* diffusers, tiny SDXL pipeline: two kohya files loaded with ``load_lora_weights(adapter_name=)``
  and ``set_adapters(names, adapter_weights)`` give our mix's UNet and text-encoder outputs."""
import copy
import sys
from pathlib import Path

import peft
import pytest
import torch
from safetensors.torch import load_file

from lava_vision.adapters import AdapterConfig, inject, set_adapter
from lava_vision.export.multi import combine_adapters, export_adapter

sys.path.insert(0, str(Path(__file__).parent))
import tiny_models as tm  # noqa: E402
from named_reference import randomise  # noqa: E402

torch.set_num_threads(1)

A = ["layer1.*.conv1", "layer2.*.conv1", "layer2.0.conv2"]
B = ["layer2.*.conv1", "layer3.*.conv1"]  # overlaps A at layer2.*.conv1
C = ["layer3.*.conv2", "layer4.0.conv1"]  # disjoint from A


@pytest.fixture(scope="module")
def resnet():
    base = tm.timm_model("resnet18", num_classes=5).double().eval()
    for m in base.modules():  # timm zero-inits each block's last BN, which would silence the block convs
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
    model = copy.deepcopy(base)
    for name, targets, alpha in (("a", A, 3.0), ("b", B, 1.0), ("c", C, 2.0)):
        inject(model, AdapterConfig(rank=2, alpha=alpha, lam=0.0, targets=targets), name=name)
    randomise(model, ["a", "b", "c"], std=0.2)
    return base, model, torch.randn(1, 3, 32, 32, dtype=torch.float64)


def ours(model, mix, x):
    set_adapter(model, mix)
    with torch.no_grad():
        return model(x)


def close(got, want, base, tol=1e-10):
    assert (want - base).abs().max() > 1e-3 * base.abs().max()  # the adapters matter
    assert (got - want).abs().max() <= tol * want.abs().max()


def test_peft_set_adapter_and_weighted_adapters_equal_our_mixes(resnet, tmp_path):
    base, model, x = resnet
    for n in ("a", "b", "c"):
        export_adapter(model, tmp_path / n, "peft", n)
    pm = peft.PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "a", adapter_name="a")
    pm.load_adapter(tmp_path / "b", adapter_name="b")
    pm.load_adapter(tmp_path / "c", adapter_name="c")
    pm.eval()
    with torch.no_grad():
        y_base = base(x)
    for n in ("a", "b", "c"):
        pm.set_adapter(n)
        with torch.no_grad():
            close(pm(x), ours(model, n, x), y_base)
    for i, (names, weights, kind) in enumerate([(["a", "b"], [0.7, -1.3], "cat"), (["a", "b"], [2.5, 0.4], "cat"),
                                                (["a", "c"], [0.6, -1.5], "linear")]):
        pm.add_weighted_adapter(names, weights, f"mix{i}", combination_type=kind)
        pm.set_adapter(f"mix{i}")
        with torch.no_grad():  # "linear" keeps its weights sqrt(|w s|) in a float32 tensor: ~1e-8 off
            close(pm(x), ours(model, dict(zip(names, weights)), x), y_base, 1e-10 if kind == "cat" else 1e-7)


def test_combined_adapter_is_the_mix_and_exports_as_one_pair_per_layer(resnet, tmp_path):
    base, model, x = resnet
    mix = {"a": 0.7, "b": -1.3}
    want = ours(model, mix, x)
    combine_adapters(model, mix, "ab")
    with torch.no_grad():
        y_base = base(x)
    close(ours(model, "ab", x), want, y_base)
    export_adapter(model, tmp_path / "ab", "peft", "ab")
    ranks = {k.split(".lora_A")[0].removeprefix("base_model.model."): v.shape[0]
             for k, v in load_file(tmp_path / "ab" / "adapter_model.safetensors").items() if ".lora_A." in k}
    assert ranks["layer2.0.conv1"] == 4 and ranks["layer1.0.conv1"] == 2 and ranks["layer3.0.conv1"] == 2
    pm = peft.PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "ab").eval()
    with torch.no_grad():
        close(pm(x), want, y_base)


def test_diffusers_set_adapters_on_our_kohya_files_equals_our_mix(tmp_path):
    from lava_vision.tasks.text2image.tiny import tiny_sdxl_pipeline
    from test_export_sdxl import Parts, outputs, rel

    base_pipe = tiny_sdxl_pipeline()
    parts = Parts(base_pipe)
    cfgs = {"style": ["unet.*.proj_in", "unet.*.ff.net.2", "text_encoder.*.layers.0.self_attn.*_proj"],
            "subject": ["unet.*.ff.net.2", "unet.*.attn1.to_q", "text_encoder_2.*.layers.1.mlp.fc1"]}
    for n, targets in cfgs.items():
        inject(parts, AdapterConfig(rank=2, alpha=4.0, lam=0.0, preset="sdxl_unet", targets=targets), name=n)
    randomise(parts, list(cfgs), std=0.1)
    pipe = copy.deepcopy(base_pipe)
    for n in cfgs:
        export_adapter(parts, tmp_path / n, "kohya", n)
        pipe.load_lora_weights(str(tmp_path / n / "lora.safetensors"), adapter_name=n)
    base_out = outputs(base_pipe.unet, base_pipe.text_encoder, base_pipe.text_encoder_2)
    for mix in ({"style": 0.8, "subject": 0.5}, {"style": -0.6, "subject": 1.7}):
        pipe.set_adapters(list(mix), adapter_weights=list(mix.values()))
        set_adapter(parts, mix)
        want = outputs(parts.unet, parts.text_encoder, parts.text_encoder_2)
        got = outputs(pipe.unet, pipe.text_encoder, pipe.text_encoder_2)
        for g, w, b in zip(got, want, base_out):
            assert rel(w, b) > 1e-3  # the mix changes each output
            assert rel(g, w) < 1e-5


@pytest.mark.parametrize("weight", [0.5, -1.7])
def test_an_adapter_alone_at_a_weight_exports_what_the_model_computes(resnet, tmp_path, weight):
    """``set_adapter(model, {"a": w})``: the merged export (loaded into the plain base) and the PEFT
    export (loaded by PEFT) give the live model's output, w included, not adapter a at weight 1."""
    from lava_vision.export import export, planned_report

    base, model, x = resnet
    want = ours(model, {"a": weight}, x)
    with torch.no_grad():
        y_base, y_one = base(x), ours(model, "a", x)
    assert (y_one - want).abs().max() > 1e-3 * want.abs().max()  # the weight matters
    set_adapter(model, {"a": weight})
    export(model, tmp_path / "merged", "merged")
    export(model, tmp_path / "peft", "peft")
    assert f"adapter 'a' x {weight:g}" in " ".join(planned_report(model, "peft").notes)
    plain = copy.deepcopy(base)
    plain.load_state_dict(load_file(tmp_path / "merged" / "model.safetensors"))
    pm = peft.PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "peft").eval()
    with torch.no_grad():
        close(plain(x), want, y_base)
        close(pm(x), want, y_base)
