"""CP conv adapter: both execution paths equal a float64 dense reference built by einsum."""
import copy
import math

import pytest
import torch
from torch import nn

from lava_vision.adapters import CPConv, FlatLoRAConv

DT = torch.float64

CASES = [
    (nn.Conv2d(8, 12, (3, 5), stride=2, padding=(1, 2), dilation=(1, 2), groups=4, padding_mode="reflect"),
     (2, 8, 17, 19)),
    (nn.Conv2d(6, 10, 3, padding="same", padding_mode="circular"), (2, 6, 9, 9)),
    (nn.Conv2d(6, 10, 3, padding=1, padding_mode="replicate", bias=False), (1, 6, 8, 7)),
    (nn.Conv2d(8, 8, 3, padding=1, groups=8), (2, 8, 9, 9)),  # depthwise
    (nn.Conv2d(4, 6, 1), (2, 4, 5, 5)),
    (nn.Conv1d(6, 4, 3, stride=2, groups=2), (2, 6, 11)),
    (nn.Conv3d(4, 6, (1, 3, 3), padding=(0, 1, 1)), (1, 4, 3, 7, 7)),
    (nn.ConvTranspose2d(8, 12, (4, 3), stride=2, padding=1, output_padding=1, groups=2), (2, 8, 5, 6)),
    (nn.ConvTranspose1d(4, 6, 4, stride=4), (2, 4, 5)),
    (nn.ConvTranspose3d(4, 4, 2, stride=2, dilation=1), (1, 4, 2, 3, 3)),
]


def reference_delta(a: CPConv) -> torch.Tensor:
    """dW = s * sum_r U o V o K_1 o ... written out per layout (transposed: V first)."""
    ks = [getattr(a, f"K{i + 1}") for i in range(a.ndim)]
    letters = "hwd"[: a.ndim]
    modes = ",".join(f"{c}r" for c in letters)
    if a.transposed:
        return torch.einsum(f"ir,or,{modes}->io{letters}", a.V, a.U, *ks) * a.scale
    return torch.einsum(f"or,ir,{modes}->oi{letters}", a.U, a.V, *ks) * a.scale


def randomise(a) -> None:
    g = torch.Generator().manual_seed(3)
    for n in a.factor_names:
        p = getattr(a, n)
        p.data = torch.randn(p.shape, generator=g, dtype=p.dtype)


def adapter_and_dense(conv: nn.Module, shape: tuple, path: str) -> tuple[CPConv, nn.Module, torch.Tensor]:
    """A float64 CP adapter with random factors on a copy of ``conv``, the dense conv holding
    W + reference dW, and an input of ``shape``."""
    torch.manual_seed(0)
    conv = copy.deepcopy(conv).double()
    x = torch.randn(shape, dtype=DT)
    a = CPConv(conv, rank=3, alpha=6.0, scale=2.0, lam=0.1, regularize=["U"], path=path)
    randomise(a)
    dense = copy.deepcopy(conv)
    dense.weight.data = conv.weight.data + reference_delta(a).detach()
    return a, dense, x


@pytest.mark.parametrize("conv,shape", CASES, ids=lambda c: type(c).__name__ if isinstance(c, nn.Module) else "")
@pytest.mark.parametrize("path", ["kernel", "factored", "two_conv"])
def test_cp_paths_match_dense_reference(conv, shape, path):
    a, dense, x = adapter_and_dense(conv, shape, path)
    assert torch.allclose(a(x), dense(x), rtol=1e-10, atol=1e-10)
    # the layer's own delta_weight is the same tensor as the reference (single truth for merge)
    assert torch.allclose(a.delta_weight(), reference_delta(a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("conv,shape", CASES)
def test_cp_parameter_count_is_exact(conv, shape):
    r = 4
    a = CPConv(copy.deepcopy(conv), rank=r, alpha=4, scale=1.0, lam=0.0, regularize=[])
    w = conv.weight.shape
    g = conv.groups
    if isinstance(conv, nn.modules.conv._ConvTransposeNd):
        c_in, c_out = w[0], w[1] * g
        expected = r * (c_in + c_out // g + sum(w[2:]))
    else:
        c_out, c_in = w[0], w[1] * g
        expected = r * (c_out + c_in // g + sum(w[2:]))
    assert a.num_adapter_params() == expected
    assert sum(p.numel() for n, p in a.named_parameters() if not n.startswith("base_layer")) == expected


@pytest.mark.parametrize("conv,shape", CASES[:4] + CASES[7:8])
def test_init_is_exactly_zero_and_all_factors_get_gradients(conv, shape):
    torch.manual_seed(0)
    conv = copy.deepcopy(conv).double()
    x = torch.randn(shape, dtype=DT)
    a = CPConv(conv, rank=3, alpha=3.0, scale=1.0, lam=0.1, regularize=["U"], path="factored")
    assert torch.count_nonzero(a.delta_weight()) == 0
    u = a.U.detach()  # the regularised factor starts with orthonormal columns: penalty 0
    assert torch.allclose(u.T @ u, torch.eye(3, dtype=DT), atol=1e-12)
    assert torch.equal(a(x), conv(x)) or torch.allclose(a(x), conv(x), rtol=0, atol=1e-14)
    opt = torch.optim.SGD([getattr(a, n) for n in a.factor_names], lr=0.1)
    seen = {n: False for n in a.factor_names}
    for _ in range(2):
        opt.zero_grad()
        a(x).square().mean().backward()
        for n in a.factor_names:
            seen[n] |= bool(getattr(a, n).grad.abs().sum() > 0)
        opt.step()
    assert all(seen.values()), seen


def test_auto_path_picks_from_shape():
    from lava_vision.adapters.conv_cp import choose_path
    big = nn.Conv2d(256, 256, 3, padding=1)
    assert choose_path(big, 8) == "factored"  # 3*8*(256+9+256) << 256*256*9
    tiny = nn.Conv2d(4, 4, 1)
    assert choose_path(tiny, 8) == "kernel"
    # CPU, k x k: two convs whenever they add fewer FLOPs than the kernel path's weight gradient.
    # A 3x3 32->32 layer at R = 8 adds 3*8*(32*9+32) = 7680 vs 32*32*9 = 9216 (a 0.5 margin: kernel)
    assert choose_path(nn.Conv2d(32, 32, 3), 8, "cpu") == "two_conv"
    assert choose_path(nn.Conv2d(16, 16, 3), 8, "cpu") == "kernel"  # 3*8*(144+16) = 3840 > 2304


@pytest.mark.parametrize("path", ["kernel", "factored"])
def test_flat_lora_conv_matches_reshaped_matrix(path):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 10, 3, stride=2, padding=1, padding_mode="reflect").double()
    x = torch.randn(2, 6, 9, 9, dtype=DT)
    a = FlatLoRAConv(conv, rank=4, alpha=8, scale=2.0, path=path)
    randomise(a)
    ref = copy.deepcopy(conv)
    ref.weight.data = conv.weight.data + (2.0 * a.B @ a.A).detach().reshape(10, 6, 3, 3)
    assert torch.allclose(a(x), ref(x), rtol=1e-10, atol=1e-10)
    assert a.num_adapter_params() == 4 * (10 + 6 * 9)
    assert math.isclose(float(FlatLoRAConv(nn.Conv2d(6, 10, 3).double(), 4, 8, 2.0).delta_weight().abs().sum()), 0.0)


class _ConvCalls(torch.overrides.TorchFunctionMode):
    """Counts conv launches (F.conv*/conv_transpose*) issued inside the mode."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "").startswith("conv"):
            self.n += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("conv,shape", [
    (nn.Conv2d(8, 12, 1, stride=2, groups=4), (2, 8, 9, 9)),
    (nn.Conv2d(6, 10, 1, padding=1, padding_mode="reflect", bias=False), (2, 6, 5, 5)),
    (nn.ConvTranspose2d(6, 4, 1, stride=2, output_padding=1), (2, 6, 5, 5)),
])
@pytest.mark.parametrize("path", ["factored", "two_conv"])
def test_pointwise_cp_is_two_convs_and_exact(conv, shape, path):
    """1x1 kernels: the per-rank spatial scalars fold into the first factor, so the adapter is two
    1x1 convs (LoRA's cost) on top of the base conv, and the output is the dense reference."""
    a, dense, x = adapter_and_dense(conv, shape, path)
    with _ConvCalls() as calls:
        y = a(x)
    assert calls.n == 3, calls.n
    assert torch.allclose(y, dense(x), rtol=1e-10, atol=1e-10)


def test_two_conv_path_launches_like_peft_lora():
    """k x k two-conv path: base conv + rank-R conv (kernel V o K) + 1x1 U, three convs as PEFT."""
    conv = nn.Conv2d(6, 10, 3, stride=2, padding=1).double()
    a = CPConv(conv, rank=3, alpha=3.0, scale=1.0, lam=0.0, regularize=[], path="two_conv")
    with _ConvCalls() as calls:
        a(torch.randn(1, 6, 9, 9, dtype=DT))
    assert calls.n == 3
