"""Silent corruptions the injector and adapter files refuse or handle: loading into merged
adapters, weight-tied layers, integral ranks, tensor dtypes, the base weights' digest, rank_policy.
References are float64 dense computations and hand-made tensors, never the code's own output."""
import hashlib
import json
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lava_vision.adapters import (
    AdapterConfig,
    AdapterConfigError,
    AdapterFileError,
    AdapterLayer,
    inject,
    load_adapter,
    merge,
    plan,
    save_adapter,
    unload,
    unmerge,
)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(self.conv(x).relu().mean((2, 3)))


CFG = AdapterConfig(rank=2, targets=["conv", "fc"])


def randomize_factors(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))


def saved(tmp_path, seed, name):
    """An adapter file with random factors for Net(seed 0)'s base, in float64."""
    torch.manual_seed(0)
    m = Net().double()
    inject(m, CFG)
    randomize_factors(m, seed)
    return save_adapter(m, tmp_path / name)


def test_load_into_merged_model_unmerges_loads_and_remerges(tmp_path):
    torch.manual_seed(0)
    m = Net().double()
    base = {k: v.clone() for k, v in m.state_dict().items()}
    inject(m, CFG)
    randomize_factors(m, 1)
    merge(m)
    load_adapter(m, saved(tmp_path, 2, "new"))
    assert all(layer.merged for layer in m.modules() if isinstance(layer, AdapterLayer))
    # reference: the new file on an unmerged copy of the base, forward in float64
    torch.manual_seed(0)
    ref = Net().double()
    load_adapter(ref, tmp_path / "new")
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    assert torch.allclose(m(x), ref(x), atol=1e-12)
    unmerge(m)
    assert torch.allclose(m.conv.base_layer.weight, base["conv.weight"], atol=1e-12, rtol=0)
    assert torch.allclose(m.fc.base_layer.weight, base["fc.weight"], atol=1e-12, rtol=0)


class Tied(nn.Module):
    """One conv reachable as ``first`` and ``second`` (applied twice)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(4, 4, 3, padding=1)
        self.second = self.first
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.second(self.first(x).tanh()).mean((2, 3)))


def test_tied_module_is_adapted_once_and_applied_at_every_use():
    torch.manual_seed(0)
    m = Tied().double()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    p = inject(m, AdapterConfig(rank=2, targets=["second"]))  # either name reaches it
    assert [(r.name, r.aliases) for r in p.rows] == [("first", ["second"])]
    assert m.first is m.second and isinstance(m.first, AdapterLayer)
    randomize_factors(m, 3)
    # reference: the dense update W + dW applied at both uses, by hand
    conv = m.first.base_layer
    w = conv.weight + m.first.delta_weight()

    def f(t):
        return nn.functional.conv2d(t, w, conv.bias, padding=1)
    want = m.head(f(f(x).tanh()).mean((2, 3)))
    assert torch.allclose(m(x), want, atol=1e-12)
    merge(m)
    assert torch.allclose(m(x), want, atol=1e-12)
    unmerge(m)
    plain = unload(m)
    assert plain.first is plain.second and isinstance(plain.first, nn.Conv2d)


class SharedWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight


def test_weight_shared_by_two_modules_is_refused_naming_both():
    with pytest.raises(AdapterConfigError, match=r"layer 'a': its weight is tied to b\.weight"):
        plan(SharedWeight(), AdapterConfig(rank=1, targets=["a"]))
    with pytest.raises(AdapterConfigError, match=r"layer 'b': its weight is tied to a\.weight"):
        plan(SharedWeight(), AdapterConfig(rank=1, targets=["b"]))


@pytest.mark.parametrize("value, want", [(4, 4), (4.0, 4), (np.int64(4), 4), (np.float32(3.0), 3)])
def test_integral_ranks_are_accepted_as_int(value, want):
    cfg = AdapterConfig(rank=value, overrides={"fc": {"rank": value}}).validate()
    assert type(cfg.rank) is int and cfg.rank == want
    assert type(cfg.overrides["fc"]["rank"]) is int and cfg.overrides["fc"]["rank"] == want
    p = plan(Net(), AdapterConfig(rank=value, targets=["fc"], overrides={"fc": {"rank": value}}))
    assert p.rows[0].rank == want and p.adapter_params == want * (6 + 4)


@pytest.mark.parametrize("value", [1.5, True, 0, -2.0, float("nan"), "4"])
def test_non_integral_ranks_are_refused(value):
    with pytest.raises(AdapterConfigError, match="rank"):
        AdapterConfig(rank=value).validate()
    with pytest.raises(AdapterConfigError, match=r"overrides\['fc'\].rank"):
        AdapterConfig(overrides={"fc": {"rank": value}}).validate()


@pytest.mark.parametrize("dtype, model_dtype, ok", [
    (torch.int64, torch.float32, False), (torch.float16, torch.float32, True), (torch.bfloat16, torch.float64, True),
    (torch.float32, torch.float16, False), (torch.float64, torch.float32, False), (torch.float32, torch.float32, True)])
def test_tensor_dtypes_load_only_when_exact(tmp_path, dtype, model_dtype, ok):
    torch.manual_seed(0)
    src = Net().to(model_dtype)
    inject(src, CFG)
    randomize_factors(src, 1)
    path = save_adapter(src, tmp_path / "ad") / "adapter.safetensors"
    tensors = load_file(path)
    tensors["conv.U"] = tensors["conv.U"].round().to(dtype)  # integral values: every dtype holds them
    save_file(tensors, path)
    torch.manual_seed(0)
    m = Net().to(model_dtype)
    if ok:
        load_adapter(m, tmp_path / "ad")
        assert m.conv.U.dtype == model_dtype and torch.equal(m.conv.U, tensors["conv.U"].to(model_dtype))
    else:
        with pytest.raises(AdapterFileError, match=f"'conv.U' is {str(dtype)[6:]}, the model holds "
                                                   f"{str(model_dtype)[6:]}"):
            load_adapter(m, tmp_path / "ad")
        assert not any(isinstance(x, AdapterLayer) for x in m.modules())


def reference_digest(model: nn.Module, layers: list[str]) -> str:
    """sha256 over name|dtype|shape| + raw bytes of each adapted layer's tensors (README's definition)."""
    h = hashlib.sha256()
    for layer in layers:
        for k, v in sorted(model.get_submodule(layer).state_dict().items()):
            h.update(f"{layer}.{k}|{v.dtype}|{list(v.shape)}|".encode())
            h.update(v.detach().numpy().tobytes())
    return h.hexdigest()


def test_base_digest_recorded_checked_and_optional(tmp_path):
    torch.manual_seed(0)
    base = Net()
    want = reference_digest(base, ["conv", "fc"])
    torch.manual_seed(0)
    m = Net()
    inject(m, CFG)
    randomize_factors(m, 1)
    merge(m)  # the digest is of the base as injected, not of merged weights
    save_adapter(m, tmp_path / "ad")
    doc = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    assert doc["fingerprint"]["base_sha256"] == want

    same = Net()
    same.load_state_dict(base.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_adapter(same, tmp_path / "ad", strict_base=True)

    other = Net()
    other.load_state_dict(base.state_dict())
    with torch.no_grad():
        other.fc.bias[0] += 1e-6  # another checkpoint of the same architecture
    with pytest.raises(AdapterFileError, match="base weights differ"):
        load_adapter(other, tmp_path / "ad", strict_base=True)
    assert not any(isinstance(x, AdapterLayer) for x in other.modules())
    with pytest.warns(UserWarning, match="base weights differ"):
        load_adapter(other, tmp_path / "ad")

    del doc["fingerprint"]["base_sha256"]  # a file written before the digest existed
    (tmp_path / "ad" / "adapter_config.json").write_text(json.dumps(doc))
    older = Net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_adapter(older, tmp_path / "ad", strict_base=True)


class Thin(nn.Module):
    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)   # CP rank <= 4*1*3*3 // 4 = 9, U has 4 rows
        self.pw = nn.Conv2d(4, 16, 1)                        # U 16 rows, V 4 rows: bound 16*4 // 16 = 4
        self.fc = nn.Linear(16, 3)                           # min(3, 16) = 3


def test_rank_policy_clamp_lowers_each_layer_and_the_table_says_so():
    cfg = dict(rank=8, lam=0.1, targets=["dw", "pw", "fc"], regularize_conv=["U"])  # regularised U bounds R
    with pytest.raises(AdapterConfigError, match="'dw'.*at most 4.*rank_policy='clamp'"):
        plan(Thin(), AdapterConfig(**cfg))
    with pytest.raises(AdapterConfigError, match="rank_policy"):
        AdapterConfig(rank_policy="shrink").validate()
    m = Thin()
    p = inject(m, AdapterConfig(**cfg, rank_policy="clamp"))
    # by hand: dw min(9, U rows 4) = 4; pw min(16*4*1*1 // 16, U rows 16) = 4; fc min(3, 16) = 3
    assert [(r.name, r.rank, r.clamped_from) for r in p.rows] == [("dw", 4, 8), ("pw", 4, 8), ("fc", 3, 8)]
    assert m.dw.U.shape == (4, 4) and m.pw.U.shape == (16, 4) and m.fc.A.shape == (3, 16)
    assert p.adapter_params == 4 * (4 + 1 + 3 + 3) + 4 * (16 + 4 + 1 + 1) + 3 * (16 + 3)
    text = str(p)
    assert all(f"{r}  " in text or f" {r} " in text for r in ("8->4", "8->3")) and "lowered the rank of 3" in text
    small = plan(Thin(), AdapterConfig(rank=2, targets=["dw"], rank_policy="clamp"))
    assert small.rows[0].clamped_from is None and "8->" not in str(small)


def test_penalty_at_init_is_lam_R_per_conv_with_every_factor_regularised():
    torch.manual_seed(0)
    m = Net().double()
    lam, rank = 0.3, 2
    inject(m, AdapterConfig.paper(rank=rank, lam=lam, targets=["conv", "fc"], regularize_conv=["U", "V", "K"]))
    from lava_vision.adapters import orthogonal_penalty
    # by hand in numpy: V is the zero factor (the paper's init, whatever is regularised), so
    # ||0^T 0 - I_R||^2 = R; U, K1, K2 and the linear's A^T start orthonormal
    ref = 0.0
    for f in (m.conv.U, m.conv.V, m.conv.K1, m.conv.K2, m.fc.A.T):
        f = f.detach().numpy()
        ref += lam * np.sum((f.T @ f - np.eye(rank)) ** 2)
    assert np.all(m.conv.V.detach().numpy() == 0)
    assert abs(ref - lam * rank) < 1e-12
    assert abs(orthogonal_penalty(m).item() - lam * rank) < 1e-12
