"""Named adapters on one model, checked in float64 against a dense reference (``named_reference``):
a mix equals base + sum_i w_i dW_i (dW_i rebuilt from the factors by einsum, run through the
plain base modules, i.e. F.conv2d / F.linear on the dense weights), merge of a mix equals the
unmerged mix and unmerge restores the base to 1e-12, switching never changes any adapter's
tensors, only the active adapters train, and deleting the last adapter leaves the base's exact
module tree. Two adapters with different methods (LAVA CP / LoRA) and overlapping, different
layer sets, on a timm ResNet, the tiny SAM, the tiny Depth-Anything and the tiny SDXL UNet."""
import copy

import pytest
import torch
from torch import nn

import tiny_models as tm
from lava_vision.adapters import (
    AdapterConfig,
    AdapterSet,
    active_adapters,
    adapter_layers,
    adapter_names,
    check_mix,
    delete_adapter,
    disable_adapters,
    inject,
    load_adapter,
    merge,
    orthogonal_penalty,
    param_groups,
    plan,
    save_adapter,
    set_adapter,
    unmerge,
)
from lava_vision.adapters.named import base_state_dict
from named_reference import factor_snapshot, randomise, reference_model

torch.set_num_threads(1)


def as_double(x):
    if isinstance(x, dict):
        return {k: as_double(v) for k, v in x.items()}
    return x.double() if torch.is_tensor(x) and x.is_floating_point() else x


ARCHS = {
    "timm_resnet18": lambda: (tm.timm_model("resnet18", num_classes=5), lambda m, x: m(x),
                              torch.randn(1, 3, 32, 32), "cnn"),
    # the prompt encoder builds float32 grids: the image encoder (which the preset adapts) runs in float64
    "sam": lambda: (tm.tiny_sam(), lambda m, x: m.image_encoder(x), torch.randn(1, 3, 64, 64), "sam"),
    "depth_anything": lambda: (tm.tiny_depth_anything_fan_in(), lambda m, x: m(pixel_values=x).predicted_depth,
                               torch.randn(1, 3, 28, 28), "depth_anything"),
    "sdxl_unet": lambda: (tm.tiny_sdxl_unet(), lambda m, x: m(**x).sample, tm.unet_inputs(), "sdxl_unet"),
}


def two_configs(model: nn.Module, preset: str, prefix: str = "") -> tuple[AdapterConfig, AdapterConfig]:
    """a (LAVA, rank 2) adapts the first two thirds of the preset's layers under ``prefix``, b (LoRA,
    rank 3) the last two."""
    every = [r.name for r in plan(model, AdapterConfig(rank=2, preset=preset)).rows]
    rows = [n for n in every if n.startswith(prefix)]
    other, n = [r for r in every if r not in rows], len(rows)
    a = AdapterConfig(method="lava", rank=2, alpha=3.0, lam=0.1, preset=preset, excludes=other + rows[2 * n // 3:])
    b = AdapterConfig(method="lora", rank=3, alpha=2.0, preset=preset, excludes=other + rows[:n // 3])
    return a, b


def tree(model: nn.Module) -> list[tuple[str, type]]:
    return [(n, type(m)) for n, m in model.named_modules()]


def assert_close(got: torch.Tensor, want: torch.Tensor, rel: float) -> None:
    err = (got - want).abs().max().item()
    assert err <= rel * want.abs().max().item(), (err, want.abs().max().item())


@pytest.mark.parametrize("arch", list(ARCHS))
def test_mix_merge_switch_delete_against_dense_reference(arch):
    model, fwd, x, preset = ARCHS[arch]()
    model, x = model.double().eval(), as_double(x)
    base = copy.deepcopy(model)
    base_tree, base_sd = tree(model), {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        y_base = fwd(model, x)
    cfg_a, cfg_b = two_configs(model, preset, "image_encoder." if arch == "sam" else "")
    inject(model, cfg_a, name="a")
    inject(model, cfg_b, name="b")
    assert adapter_names(model) == ["a", "b"] and active_adapters(model) == {"a": 1.0}
    slots = {n: type(m) for n, m in model.named_modules() if isinstance(m, AdapterSet)}
    only = {n for n, _ in adapter_layers(model, "a")} ^ {n for n, _ in adapter_layers(model, "b")}
    assert slots and only, "the layer sets should overlap and differ"
    randomise(model, ["a"], seed=0)
    randomise(model, ["b"], seed=1)
    snap = factor_snapshot(model, ["a", "b"])

    for mix in ({"a": 1.0}, {"b": 1.0}, {"a": 0.7, "b": -1.3}, {"a": 2.5, "b": 0.4}):
        set_adapter(model, next(iter(mix)) if mix == {next(iter(mix)): 1.0} else mix)
        assert active_adapters(model) == mix
        factors = {id(getattr(layer, p)) for _, layer in adapter_layers(model, list(mix)) for p in layer.factor_names}
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        assert trainable == factors  # only the active adapters train
        assert {id(p) for g in param_groups(model, 1e-3, 0.0) for p in g["params"]} == factors
        with torch.no_grad():
            y = fwd(model, x)
            y_ref = fwd(reference_model(base, model, mix), x)
            assert (y_ref - y_base).abs().max() > 1e-3 * y_base.abs().max()  # the mix matters (>> 1e-10)
            assert_close(y, y_ref, 1e-10)
            merge(model)
            assert_close(fwd(model, x), y, 1e-10)
            unmerge(model)
        for k, v in model.state_dict().items():  # base tensors back to 1e-12
            key = k.replace(".base_layer.", ".")
            if key in base_sd:
                assert (v - base_sd[key]).abs().max() <= 1e-12, k
        for key, t in factor_snapshot(model, ["a", "b"]).items():
            assert torch.equal(t, snap[key]), key  # no switch, merge or unmerge touched a factor
    # the regulariser sees the active adapters only: b (LoRA) has lam 0, a has lam 0.1
    set_adapter(model, "b")
    assert float(orthogonal_penalty(model)) == 0.0
    set_adapter(model, "a")
    assert float(orthogonal_penalty(model)) > 0.0

    delete_adapter(model, "a")
    assert active_adapters(model) == {"b": 1.0}  # the first remaining adapter took over
    alone = copy.deepcopy(base)
    inject(alone, cfg_b)
    assert tree(model) == tree(alone)  # back to the single-adapter layout
    assert list(model.state_dict()) == list(alone.state_dict())
    with torch.no_grad():
        assert_close(fwd(model, x), fwd(reference_model(base, model, {"b": 1.0}), x), 1e-10)
    delete_adapter(model, "b")
    assert tree(model) == base_tree and not hasattr(model, "_lava_state") and not hasattr(model, "_lava_adapters")
    sd = model.state_dict()
    assert list(sd) == list(base_sd)
    assert all((sd[k] - base_sd[k]).abs().max() <= 1e-12 for k in sd)
    with torch.no_grad():
        assert_close(fwd(model, x), y_base, 1e-12)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.lin = nn.Linear(6, 6)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(torch.tanh(self.lin(self.conv(x).mean((2, 3)))))


def test_saved_modules_follow_the_active_adapter_and_files_round_trip(tmp_path):
    torch.manual_seed(0)
    base = Head().double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    model = copy.deepcopy(base)
    cfg_a = AdapterConfig(rank=2, targets=["conv", "lin"], modules_to_save=["fc"])
    cfg_b = AdapterConfig(rank=1, targets=["conv"], modules_to_save=["fc"])
    inject(model, cfg_a, name="a")
    inject(model, cfg_b, name="b")
    randomise(model, ["a", "b"])
    fc_base = {k: v.clone() for k, v in base.fc.state_dict().items()}
    with torch.no_grad():
        model.fc.weight.add_(0.5)  # a's head trained: the base's values are kept aside
    got = base_state_dict(model)
    assert sorted(got) == sorted(base.state_dict())
    assert all(torch.equal(got[k], v) for k, v in base.state_dict().items())
    with torch.no_grad():
        model.fc.weight.sub_(0.5)
    assert all(torch.equal(v, fc_base[k]) for k, v in model.fc.state_dict().items())
    with torch.no_grad():  # train a's head; b's starts from the base head
        model.fc.weight.add_(1.0)
    fc_a = model.fc.weight.clone()
    set_adapter(model, "b")
    assert torch.equal(model.fc.weight, base.fc.weight)
    with torch.no_grad():
        model.fc.weight.sub_(2.0)
    set_adapter(model, "a")
    assert torch.equal(model.fc.weight, fc_a)
    with pytest.raises(ValueError, match=r"'a' and 'b' both save module 'fc'"):
        set_adapter(model, {"a": 0.5, "b": 0.5})
    assert active_adapters(model) == {"a": 1.0} and torch.equal(model.fc.weight, fc_a)  # refused: nothing changed

    save_adapter(model, tmp_path / "a", name="a")
    save_adapter(model, tmp_path / "b", name="b")  # b inactive: its head comes from the values kept aside
    outs = {}
    for n in ("a", "b"):
        set_adapter(model, n)
        with torch.no_grad():
            outs[n] = model(x)
    fresh = copy.deepcopy(base)
    load_adapter(fresh, tmp_path / "b", name="b")
    load_adapter(fresh, tmp_path / "a", name="a")
    assert active_adapters(fresh) == {"b": 1.0}
    single = copy.deepcopy(base)
    load_adapter(single, tmp_path / "a")  # a file saved by name loads as a plain single adapter
    with torch.no_grad():
        for n in ("a", "b"):
            set_adapter(fresh, n)
            assert torch.equal(fresh(x), outs[n])
        assert torch.equal(single(x), outs["a"])
    delete_adapter(fresh, "a")
    delete_adapter(fresh, "b")
    assert torch.equal(fresh.fc.weight, base.fc.weight)  # the base head is back


def test_disable_adapters_runs_the_base_head_too():
    """A trained head (modules_to_save) is part of the adapter: disable_adapters runs the base's head,
    as PEFT's disable_adapter runs a ModulesToSaveWrapper's original module, and restores the
    adapter's head on exit; for one adapter and for a mix where one of them saves the head."""
    torch.manual_seed(0)
    base = Head().double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        want = base(x)
    model = copy.deepcopy(base)
    inject(model, AdapterConfig(rank=2, targets=["conv"], modules_to_save=["fc"]), name="a")
    inject(model, AdapterConfig(rank=1, targets=["lin"]), name="b")
    randomise(model, ["a", "b"])
    with torch.no_grad():
        model.fc.weight.add_(0.5)  # a's head trained
    for active in ("a", {"a": 1.0, "b": 0.5}):
        set_adapter(model, active)
        with torch.no_grad():
            adapted = model(x)
            with disable_adapters(model):
                assert torch.equal(model(x), want)
            assert torch.equal(model(x), adapted)  # a's head is back
        assert not torch.allclose(adapted, want)


def test_check_mix_answers_before_a_mix_is_tried():
    """check_mix refuses exactly the pairs that save a module in common (their modules_to_save
    lists), names that module, and changes nothing; set_adapter refuses the same pair."""
    model = Head().double()
    saves = {"a": ["fc"], "b": ["fc"], "c": []}
    for n, saved in saves.items():
        inject(model, AdapterConfig(rank=1, targets=["conv"], modules_to_save=saved), name=n)
    for pair in (["a", "b"], ["a", "c"], ["b", "c"]):
        common = set(saves[pair[0]]) & set(saves[pair[1]])
        if common:
            with pytest.raises(ValueError, match=rf"'a' and 'b' both save module '{common.pop()}'"):
                check_mix(model, pair)
            with pytest.raises(ValueError, match="both save module"):
                set_adapter(model, dict.fromkeys(pair, 0.5))
        else:
            check_mix(model, pair)
    assert active_adapters(model) == {"a": 1.0}  # asking changed nothing
    with pytest.raises(ValueError, match="no adapter named 'x'"):
        check_mix(model, ["a", "x"])


def test_bad_names_and_clashes_are_refused_cleanly():
    model = Head().double()
    inject(model, AdapterConfig(rank=2, targets=["conv"], modules_to_save=["fc"]))
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    with pytest.raises(Exception, match="already has adapters"):
        inject(model, AdapterConfig(rank=2, targets=["lin"]))
    with pytest.raises(ValueError, match="adapter name"):
        inject(model, AdapterConfig(rank=2, targets=["lin"]), name="a.b")
    before = tree(model)
    with pytest.raises(Exception, match="module 'conv' overlaps 'conv' of adapter 'default'"):
        inject(model, AdapterConfig(rank=2, targets=["lin"], modules_to_save=["conv"]), name="b")
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags  # the head still trains
    inject(model, AdapterConfig(rank=2, targets=["lin"]), name="c")
    with pytest.raises(Exception, match="overlaps 'lin'"):
        inject(model, AdapterConfig(rank=2, targets=["conv"], modules_to_save=["lin"]), name="b")
    assert adapter_names(model) == ["default", "c"]
    with pytest.raises(ValueError, match="no adapter named 'x'"):
        set_adapter(model, {"x": 1.0})
    with pytest.raises(ValueError, match="finite"):
        set_adapter(model, {"c": float("nan")})
    merge(model)
    with pytest.raises(ValueError, match="unmerge"):
        inject(model, AdapterConfig(rank=2, targets=["fc"]), name="d")
    unmerge(model)
    delete_adapter(model, "c")
    assert tree(model) == before
