"""orthogonal_penalty: value and gradient 4 lam F (F^T F - I) against float64 dense formulas."""
import torch
from torch import nn

from lava_vision.adapters import AdapterConfig, inject, orthogonal_penalty

DT = torch.float64


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 9, 3)
        self.fc = nn.Linear(10, 6)
        self.qkv = nn.Linear(10, 30)


def randomised_model(regularize_conv=("U",)):
    torch.manual_seed(0)
    m = Net().double()
    cfg = AdapterConfig(rank=3, lam=0.2, targets=["conv", "fc", "qkv"], fused={"qkv": "qkv->qv"},
                        overrides={"fc": {"lam": 0.05}}, regularize_conv=list(regularize_conv))
    inject(m, cfg)
    for p in m.parameters():
        if p.requires_grad:
            p.data = torch.randn_like(p)
    return m


def dense(f, lam):
    g = f.T @ f - torch.eye(f.shape[1], dtype=DT)
    return lam * (g ** 2).sum(), 4 * lam * f @ g


def test_penalty_value_and_gradient():
    m = randomised_model()
    pen = orthogonal_penalty(m)
    pen.backward()
    v_conv, g_conv = dense(m.conv.U.detach(), 0.2)          # U: 9 x 3
    v_fc, g_fc = dense(m.fc.A.detach().T, 0.05)             # A^T: 10 x 3
    a = m.qkv.A.detach()                                    # two slices: rows 0:3 and 3:6
    v_q, g_q = dense(a[:3].T, 0.2)
    v_v, g_v = dense(a[3:].T, 0.2)
    assert torch.allclose(pen, v_conv + v_fc + v_q + v_v, rtol=1e-12, atol=1e-12)
    assert torch.allclose(m.conv.U.grad, g_conv, rtol=1e-10, atol=1e-12)
    assert torch.allclose(m.fc.A.grad, g_fc.T, rtol=1e-10, atol=1e-12)
    assert torch.allclose(m.qkv.A.grad, torch.cat([g_q.T, g_v.T]), rtol=1e-10, atol=1e-12)
    assert m.conv.V.grad is None and m.fc.B.grad is None  # unregularised factors untouched


def test_penalty_on_u_and_v():
    m = randomised_model(("U", "V"))
    pen = orthogonal_penalty(m)
    expected = dense(m.conv.U.detach(), 0.2)[0] + dense(m.conv.V.detach(), 0.2)[0] \
        + dense(m.fc.A.detach().T, 0.05)[0] + dense(m.qkv.A.detach()[:3].T, 0.2)[0] \
        + dense(m.qkv.A.detach()[3:].T, 0.2)[0]
    assert torch.allclose(pen, expected, rtol=1e-12, atol=1e-12)


def test_penalty_is_zero_at_init_and_for_lora():
    torch.manual_seed(0)
    m = Net()
    inject(m, AdapterConfig.paper(rank=3, lam=0.2, targets=["conv", "fc"]))  # regularised U starts orthonormal
    assert orthogonal_penalty(m).item() < 1e-10
    m2 = Net()
    inject(m2, AdapterConfig(method="lora", rank=3, lam=0.2, targets=["conv", "fc"]))
    for p in m2.parameters():
        if p.requires_grad:
            p.data.normal_()
    assert orthogonal_penalty(m2).item() == 0.0


def test_penalty_keeps_no_copy_of_the_factors_for_backward():
    """Autograd saves the factors themselves (parameters) and the small R x R Grams, not a stacked
    copy of every regularised factor that would live from forward to backward."""
    m = randomised_model(regularize_conv=("U", "V"))
    params = {p.untyped_storage().data_ptr() for p in m.parameters()}
    extra = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            extra[t.untyped_storage().data_ptr()] = t.shape
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        pen = orthogonal_penalty(m)
    pen.backward()
    # Grams (n x R x R) and per-factor lam vectors only; the stacked factors would be n x rows x R
    # (rows 9, 4, 10) or n x R x cols
    assert extra and all(len(s) == 1 or tuple(s[-2:]) == (3, 3) for s in extra.values()), extra
