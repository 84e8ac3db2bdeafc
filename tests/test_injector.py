"""plan / inject / merge / unmerge / unload / disable and every bad-input error of the injector."""
import pytest
import torch
from torch import nn

from lava_vision.adapters import (
    AdapterConfig,
    AdapterConfigError,
    AdapterLayer,
    disable_adapters,
    inject,
    merge,
    param_groups,
    plan,
    train_mode,
    unload,
    unmerge,
)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.blocks[1].conv = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        for b in self.blocks:
            x = b.bn(b.conv(x)).relu()
        return self.head(self.pool(x).flatten(1))


def test_plan_numbers_equal_injection():
    m = Net()
    cfg = AdapterConfig(rank=2, targets=["type:Conv2d"], modules_to_save=["head"])
    p = plan(m, cfg)
    assert [r.name for r in p.rows] == ["blocks.0.conv", "blocks.1.conv"]
    assert p.adapter_params == 2 * (8 + 4 + 3 + 3) + 2 * (8 + 8 + 3 + 3)
    assert p.saved_params == 8 * 3 + 3
    inject(m, cfg)
    trainable = sum(q.numel() for q in m.parameters() if q.requires_grad)
    assert trainable == p.trainable_params
    assert "trainable" in str(p) and "blocks.1.conv" in str(p)


def test_excludes_win_and_overrides_later_wins():
    m = Net()
    cfg = AdapterConfig(rank=2, targets=["blocks.*"], excludes=["blocks.1.*"],
                        overrides={"blocks.*": {"rank": 3}, "blocks.0.conv": {"rank": 4, "lam": 0.0}})
    p = plan(m, cfg)
    assert [(r.name, r.rank, r.lam) for r in p.rows] == [("blocks.0.conv", 4, 0.0)]


def test_regex_and_type_patterns():
    m = Net()
    assert [r.name for r in plan(m, AdapterConfig(rank=1, targets=["re:blocks\\.1\\.conv"])).rows] == ["blocks.1.conv"]
    assert [r.name for r in plan(m, AdapterConfig(rank=1, targets=["type:Linear"])).rows] == ["head"]


@pytest.mark.parametrize("cfg,msg", [
    (AdapterConfig(targets=["blocks.*.convv"]), "matches no adaptable layer"),
    (AdapterConfig(targets=["blocks.0.bn"]), "'blocks.0.bn' of type BatchNorm2d"),
    (AdapterConfig(targets=["head"], rank=9), "larger than layer 'head'"),
    (AdapterConfig(targets=["head"], rank=0), "rank=0"),
    (AdapterConfig(targets=["head"], lam=-1.0), "lam=-1.0"),
    (AdapterConfig(targets=[]), "nothing to adapt"),
    (AdapterConfig(targets=["head"], excludes=["nope"]), "excludes"),
    (AdapterConfig(targets=["head"], overrides={"blocks.*": {"rank": 1}}), "overrides"),
    (AdapterConfig(targets=["head"], overrides={"head": {"rnak": 1}}), "rnak"),
    (AdapterConfig(targets=["head"], method="dora"), "method"),
    (AdapterConfig(targets=["head"], preset="nope"), "preset"),
    (AdapterConfig(method="frozen"), "modules_to_save"),
])
def test_bad_configs_name_the_culprit(cfg, msg):
    with pytest.raises(AdapterConfigError, match=msg.replace("(", r"\(").replace(".", r"\.").replace("*", r"\*")):
        plan(Net(), cfg)


def test_unknown_config_key_refused():
    with pytest.raises(AdapterConfigError, match="unknown keys.*'rnak'"):
        AdapterConfig.from_dict({"rnak": 3})


def test_merge_unmerge_unload_disable():
    torch.manual_seed(0)
    m = Net().double().eval()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    y_base = m(x)
    inject(m, AdapterConfig(rank=2, targets=["type:Conv2d", "head"]))
    for p in m.parameters():
        if p.requires_grad:
            p.data.normal_()
    y = m(x)
    assert not torch.allclose(y, y_base, rtol=0, atol=1e-6)
    with disable_adapters(m):
        assert torch.allclose(m(x), y_base, atol=1e-12)
    merge(m)
    assert torch.allclose(m(x), y, rtol=1e-10, atol=1e-12)
    with disable_adapters(m):  # merged adapters are unmerged inside, re-merged after
        assert torch.allclose(m(x), y_base, atol=1e-12)
    assert torch.allclose(m(x), y, rtol=1e-10, atol=1e-12)
    unmerge(m)
    assert torch.allclose(m(x), y, rtol=1e-10, atol=1e-12)
    unload(m)
    assert not any(isinstance(mod, AdapterLayer) for mod in m.modules())
    assert isinstance(m.blocks[0].conv, nn.Conv2d)
    assert torch.allclose(m(x), y, rtol=1e-10, atol=1e-12)


def test_reinjection_refused_and_frozen_bn_stays_eval():
    m = Net()
    inject(m, AdapterConfig(rank=2, targets=["type:Conv2d"]))
    with pytest.raises(AdapterConfigError, match="already has adapters"):
        inject(m, AdapterConfig(rank=2, targets=["type:Conv2d"]))
    train_mode(m)
    assert m.training and not m.blocks[0].bn.training


def test_full_and_frozen_methods():
    m = Net()
    p = inject(m, AdapterConfig(method="full"))
    assert all(q.requires_grad for q in m.parameters()) and p.trainable_params == p.base_params
    m2 = Net()
    inject(m2, AdapterConfig(method="frozen", modules_to_save=["head"]))
    assert {n for n, q in m2.named_parameters() if q.requires_grad} == {"head.weight", "head.bias"}


def test_param_groups_multipliers_and_no_decay():
    m = Net()
    inject(m, AdapterConfig(rank=2, targets=["type:Conv2d"], modules_to_save=["head"]))
    groups = param_groups(m, lr=1.0, weight_decay=0.1, factor_lr={"U": 4.0}, module_lr={"head": 10.0})
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert by_id[id(m.blocks[0].conv.U)] == (4.0, 0.1)
    assert by_id[id(m.blocks[0].conv.V)] == (1.0, 0.1)
    assert by_id[id(m.head.weight)] == (10.0, 0.1)
    assert by_id[id(m.head.bias)] == (10.0, 0.0)
    assert sum(len(g["params"]) for g in groups) == sum(1 for q in m.parameters() if q.requires_grad)


def test_user_override_order_beats_preset_override():
    """A user override on the preset's own key keeps the user's order: the later user entry wins."""
    import tiny_models as tm
    m = tm.tiny_depth_anything()
    cfg = AdapterConfig(rank=1, preset="depth_anything",
                        overrides={"head.*": {"lam": 0.3}, "head.conv3": {"rank": 1, "lam": 0.05}})
    rows = {r.name: r for r in plan(m, cfg).rows}
    assert rows["head.conv3"].lam == 0.05 and rows["head.conv1"].lam == 0.3
