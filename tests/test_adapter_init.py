"""Adapter initialisation: dW = 0 at step 0 for every option, the stated distributions and
orthonormality (checked in numpy / against closed-form moments), no dependence on lam, and a plan
table that shows the lam and scale each layer really uses."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from lava_vision.adapters import AdapterConfig, AdapterConfigError, inject, plan
from lava_vision.adapters.conv_cp import CPConv
from lava_vision.adapters.conv_lora import FlatLoRAConv
from lava_vision.adapters.linear import LoRALinear

DT = torch.float64


def _cols(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _check_scheme(f: np.ndarray, scheme: str) -> None:
    """f: rows x R with the rank vectors as columns."""
    rows, r = f.shape
    norms = np.sqrt((f * f).sum(axis=0))
    if scheme == "orthonormal" and rows >= r:
        np.testing.assert_allclose(f.T @ f, np.eye(r), rtol=0, atol=1e-12)
    elif scheme in ("orthonormal", "unit"):  # orthonormality impossible when R > rows: unit norm
        np.testing.assert_allclose(norms, np.ones(r), rtol=0, atol=1e-12)
        assert np.abs(f.T @ f - np.diag(np.diag(f.T @ f))).max() > 1e-3  # random, not orthogonal
    elif scheme == "normal":  # entries N(0, 1/rows): sample variance within 4 standard errors
        var, n = f.var(), f.size
        assert abs(var - 1.0 / rows) < 4 * math.sqrt(2.0 / n) / rows, (var, 1.0 / rows)
        assert abs(f.mean()) < 4 / math.sqrt(n * rows)
    else:
        raise AssertionError(scheme)


@pytest.mark.parametrize("zero", ["U", "V", "K"])
@pytest.mark.parametrize("scheme", ["orthonormal", "unit", "normal"])
def test_cp_init_options(zero, scheme):
    torch.manual_seed(0)
    conv = nn.Conv2d(96, 160, 3).double()
    a = CPConv(conv, rank=8, alpha=8.0, scale=1.0, lam=0.0, regularize=[], init_zero=zero, init=scheme)
    assert torch.count_nonzero(a.delta_weight()) == 0
    zero_name = "K1" if zero == "K" else zero
    for name in a.factor_names:
        f = _cols(getattr(a, name))
        if name == zero_name:
            assert not f.any()
        else:
            _check_scheme(f, scheme)
    # the update leaves zero at once: the zero factor gets a gradient through the others
    probe = torch.randn_like(conv.weight)
    (a.delta_weight() * probe).sum().backward()
    assert getattr(a, zero_name).grad.abs().sum() > 0


@pytest.mark.parametrize("zero", ["A", "B"])
@pytest.mark.parametrize("scheme", ["orthonormal", "unit", "normal"])
def test_linear_init_options_per_fused_slice(zero, scheme):
    torch.manual_seed(0)
    base = nn.Linear(200, 3 * 120).double()
    a = LoRALinear(base, rank=6, alpha=6.0, scale=1.0, lam=0.0, regularize=[], fused=(3, [0, 2]),
                   init_zero=zero, init=scheme)
    assert torch.count_nonzero(a.delta_weight()) == 0
    x = torch.randn(4, 200, dtype=DT)
    np.testing.assert_array_equal(a(x).detach().numpy(), base(x).detach().numpy())
    A, B = _cols(a.A), _cols(a.B)
    for j in range(2):  # slice j: rows j*R.. of A (rank vectors as rows), rows j*chunk.. of B
        blocks = {"A": A[j * 6:(j + 1) * 6].T, "B": B[j * 120:(j + 1) * 120]}
        for name, f in blocks.items():
            if name == zero:
                assert not f.any()
            else:
                _check_scheme(f, scheme)
    if zero == "B" and scheme == "orthonormal":  # slices are independent, not one 12-row frame
        assert np.abs(A[:6] @ A[6:].T).max() > 1e-3


def test_kaiming_uniform_is_pefts_default():
    """PEFT: nn.init.kaiming_uniform_(lora_A, a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 32, 3).double()
    a = FlatLoRAConv(conv, rank=16, alpha=16.0, scale=1.0, init="kaiming_uniform")
    fan_in = 64 * 9
    A = _cols(a.A)
    assert A.shape == (16, fan_in) and not _cols(a.B).any()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(A).max() <= bound and np.abs(A).max() > 0.99 * bound
    var_uniform = bound ** 2 / 3  # variance of U(-b, b)
    assert abs(A.var() - var_uniform) < 4 * var_uniform * math.sqrt(0.8 / A.size)
    assert torch.count_nonzero(a.delta_weight()) == 0


def test_flat_lora_normal_init_has_variance_one_over_fan_in():
    torch.manual_seed(1)
    a = FlatLoRAConv(nn.Conv2d(64, 32, 3).double(), rank=16, alpha=16.0, scale=1.0, init="normal")
    _check_scheme(_cols(a.A).T, "normal")
    b = FlatLoRAConv(nn.Conv2d(8, 32, 3).double(), rank=4, alpha=4.0, scale=1.0, init_zero="A", init="unit")
    assert not _cols(b.A).any() and torch.count_nonzero(b.delta_weight()) == 0
    _check_scheme(_cols(b.B), "unit")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 3)


def _factors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("method", ["lava", "lora"])
def test_init_does_not_depend_on_lam(method):
    got = []
    for lam in (0.0, 0.01, 0.1):
        torch.manual_seed(3)
        m = Net()
        torch.manual_seed(4)
        inject(m, AdapterConfig(method=method, rank=2, alpha=2.0, lam=lam, targets=["conv*", "head"],
                                init_cp_zero="V", init_cp="orthonormal"))
        got.append(_factors(m))
    for other in got[1:]:
        assert other.keys() == got[0].keys()
        for k in got[0]:
            assert torch.equal(other[k], got[0][k]), k
    if method == "lava":  # the configured (paper's) schemes, also at lam = 0: U orthonormal, V zero
        u = got[0]["conv.U"].numpy()
        np.testing.assert_allclose(u.T @ u, np.eye(2), atol=1e-6)
        assert not got[0]["conv.V"].any()


def test_bad_init_values_name_the_field():
    for key, value in (("init_cp_zero", "B"), ("init_cp", "kaiming_uniform"), ("init_lora_zero", "U"),
                       ("init_lora", "xavier")):
        with pytest.raises(AdapterConfigError, match=f"adapter.{key}="):
            AdapterConfig(**{key: value}).validate()


def test_plan_table_shows_the_lam_and_scale_each_layer_uses():
    m = Net()
    cfg = AdapterConfig(method="lora", rank=2, alpha=3.0, lam=0.1, targets=["conv*", "head"],
                        overrides={"conv2": {"rank": 4}})
    p = plan(m, cfg)
    assert [r.lam for r in p.rows] == [0.0, 0.0, 0.0]  # lora has no regulariser
    assert [r.scale for r in p.rows] == [1.5, 0.75, 1.5]
    lines = {line.split()[0]: line.split() for line in str(p).splitlines()[2:5]}
    assert lines["conv2"][4:6] == ["0.75", "0"] and lines["head"][4:6] == ["1.5", "0"]
    torch.manual_seed(0)
    inject(m, cfg)
    for r in p.rows:  # the built layer applies exactly that scale: dW = s * B A, computed here
        layer = m.get_submodule(r.name)
        assert layer.lam == r.lam
        with torch.no_grad():
            layer.B.normal_()
            dense = (layer.B @ layer.A).numpy().reshape(layer.base_layer.weight.shape) * (3.0 / r.rank)
        np.testing.assert_allclose(layer.delta_weight().detach().numpy(), dense, rtol=0, atol=1e-6)
    lava = plan(Net(), AdapterConfig(rank=2, alpha=3.0, lam=0.1, scaling="rslora", targets=["conv*"],
                                     overrides={"conv2": {"lam": 0.02}}))
    assert [(r.lam, r.scale) for r in lava.rows] == [(0.1, 3.0 / math.sqrt(2)), (0.02, 3.0 / math.sqrt(2))]
    row = next(line.split() for line in str(lava).splitlines() if line.startswith("conv2 "))
    assert row[4:6] == [f"{3.0 / math.sqrt(2):.4g}", "0.02"]


def test_default_alpha_follows_the_rank_so_the_scale_stays_two():
    for rank in (1, 2, 3):
        p = plan(Net(), AdapterConfig(rank=rank, targets=["conv*", "head"], overrides={"conv2": {"rank": 1}}))
        assert [(r.rank, r.alpha, r.scale) for r in p.rows] == [(rank, 2 * rank, 2.0), (1, 2.0, 2.0),
                                                                (rank, 2 * rank, 2.0)]
    p = plan(Net(), AdapterConfig(rank=4, alpha=2.0, targets=["conv"], overrides={"conv": {"rank": 2}}))
    assert (p.rows[0].alpha, p.rows[0].scale) == (2.0, 1.0)  # an explicit alpha is kept at any rank
    with pytest.raises(AdapterConfigError, match="adapter.alpha=None"):
        AdapterConfig(scaling="rslora").validate()


def test_defaults_and_the_papers_setting_one_call_away():
    torch.manual_seed(0)
    m = Net()
    inject(m, AdapterConfig(rank=2, targets=["conv"]))  # defaults: U = 0, V and K ~ N(0, 1/mode size), lam 0
    assert not m.conv.U.detach().any() and m.conv.V.detach().abs().min() > 0 and m.conv.lam == 0.0
    paper = AdapterConfig.paper(rank=3, targets=["conv*", "head"], overrides={"conv2": {"rank": 1}})
    p = plan(Net(), paper)
    # the paper has no scale (s = 1, alpha = R on every layer) and lam = 0.1 on U (A for linears)
    assert [(r.rank, r.alpha, r.scale, r.lam) for r in p.rows] == [(3, 3.0, 1.0, 0.1), (1, 1.0, 1.0, 0.1),
                                                                   (3, 3.0, 1.0, 0.1)]
    m = Net()
    inject(m, AdapterConfig.paper(rank=2, targets=["conv"]))
    u = m.conv.U.detach().double().numpy()
    np.testing.assert_allclose(u.T @ u, np.eye(2), atol=1e-6)
    assert not m.conv.V.detach().any() and m.conv.lam == 0.1
    assert AdapterConfig.paper(rank=4, lam=0.0).lam == 0.0  # fields still override


def test_lora_init_default_is_pefts_for_the_lora_method_and_orthonormal_for_lava():
    lin = nn.Linear(400, 30)
    for method, cfg_init in (("lora", None), ("lava", None), ("lora", "normal")):
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(400, 30))
        m[0].load_state_dict(lin.state_dict())
        inject(m, AdapterConfig(method=method, rank=8, init_lora=cfg_init, targets=["0"]))
        A = m[0].A.detach().double().numpy()
        if method == "lava":
            np.testing.assert_allclose(A @ A.T, np.eye(8), atol=1e-6)
        elif cfg_init is None:  # PEFT: kaiming_uniform(a=sqrt(5)) -> U(-1/sqrt(400), 1/sqrt(400))
            assert np.abs(A).max() <= 1 / 20 and abs(A.var() - 1 / (3 * 400)) < 0.2 / (3 * 400)
        else:
            assert abs(A.var() - 1 / 400) < 0.2 / 400 and np.abs(A).max() > 1 / 20
        assert not m[0].B.detach().any()
