"""LoRA-form linear adapter: dW = s B A, orthonormal A rows at init, fused q/v slices."""
import pytest
import torch
from torch import nn

from lava_vision.adapters import LoRALinear

DT = torch.float64


def test_linear_matches_dense_and_starts_at_zero():
    torch.manual_seed(0)
    base = nn.Linear(12, 7).double()
    a = LoRALinear(base, rank=3, alpha=6.0, scale=2.0, lam=0.1, regularize=["A"])
    x = torch.randn(4, 5, 12, dtype=DT)
    assert torch.equal(a(x), base(x))
    assert torch.allclose(a.A @ a.A.T, torch.eye(3, dtype=DT), atol=1e-12)  # orthonormal rows
    a.B.data = torch.randn(7, 3, dtype=DT)
    ref = x @ (base.weight + 2.0 * a.B @ a.A).T + base.bias
    assert torch.allclose(a(x), ref.detach(), rtol=1e-12, atol=1e-12)
    assert a.num_adapter_params() == 3 * (12 + 7)


def test_fused_qkv_adapts_only_selected_slices():
    torch.manual_seed(0)
    dim = 8
    base = nn.Linear(dim, 3 * dim).double()
    a = LoRALinear(base, rank=2, alpha=2.0, scale=1.5, lam=0.1, regularize=["A"], fused=(3, [0, 2]))
    assert a.A.shape == (2 * 2, dim) and a.B.shape == (2 * dim, 2)
    a.B.data = torch.randn_like(a.B)
    a.A.data = torch.randn_like(a.A)
    x = torch.randn(3, dim, dtype=DT)
    y, y0 = a(x), base(x)
    # k slice untouched, q and v each get their own rank-2 update
    assert torch.equal(y[:, dim:2 * dim], y0[:, dim:2 * dim])
    dq = 1.5 * a.B[:dim] @ a.A[:2]
    dv = 1.5 * a.B[dim:] @ a.A[2:]
    assert torch.allclose(y[:, :dim], (y0[:, :dim] + x @ dq.T).detach(), atol=1e-12)
    assert torch.allclose(y[:, 2 * dim:], (y0[:, 2 * dim:] + x @ dv.T).detach(), atol=1e-12)
    full = torch.zeros(3 * dim, dim, dtype=DT)
    full[:dim], full[2 * dim:] = dq, dv
    assert torch.allclose(a.delta_weight(), full.detach(), atol=1e-12)
    assert a.num_adapter_params() == 2 * 2 * (dim + dim)


def test_every_factor_gets_a_gradient_within_two_steps():
    torch.manual_seed(0)
    a = LoRALinear(nn.Linear(6, 5), rank=2, alpha=2.0, scale=1.0, lam=0.1, regularize=["A"])
    opt = torch.optim.SGD([a.A, a.B], lr=0.1)
    x = torch.randn(8, 6)
    seen = {"A": False, "B": False}
    for _ in range(2):
        opt.zero_grad()
        a(x).square().mean().backward()
        seen["A"] |= bool(a.A.grad.abs().sum() > 0)
        seen["B"] |= bool(a.B.grad.abs().sum() > 0)
        opt.step()
    assert all(seen.values())


def test_merge_unmerge_roundtrip():
    torch.manual_seed(0)
    base = nn.Linear(6, 5).double()
    w0 = base.weight.detach().clone()
    a = LoRALinear(base, rank=2, alpha=2.0, scale=1.0, lam=0.0, regularize=[])
    a.B.data.normal_()
    x = torch.randn(3, 6, dtype=DT)
    y = a(x)
    a.merge()
    assert torch.allclose(a(x), y, atol=1e-12)
    a.unmerge()
    assert torch.allclose(base.weight, w0, atol=1e-14)


@pytest.mark.parametrize("scaling,expected", [("standard", 16 / 4), ("rslora", 16 / 2)])
def test_scaling_rule(scaling, expected):
    from lava_vision.adapters import AdapterConfig
    assert AdapterConfig(scaling=scaling).scale(4, 16.0) == expected
