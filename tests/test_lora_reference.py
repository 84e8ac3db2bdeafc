"""LoRA-form adapters against dense float64 references: the flattening-LoRA conv on dilated,
grouped, transposed and reflect-padded convolutions (both forward paths), and adapter dropout,
which acts on the update's input only, never on the frozen base path."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lava_vision.adapters import FlatLoRAConv, LoRALinear

DT = torch.float64

CONVS = {
    "dilated": lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2),
    "dilated_strided_reflect": lambda: nn.Conv2d(4, 6, 3, stride=2, padding=3, dilation=3, padding_mode="reflect"),
    "grouped_dilated": lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2),
    "depthwise": lambda: nn.Conv2d(4, 8, 3, padding=1, groups=4),
    "transposed_grouped_dilated": lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                                             dilation=2, groups=2),
}


def _dense_reference(conv: nn.Module, delta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The convolution with weight W + dW, every geometry argument passed explicitly."""
    w = conv.weight.detach() + delta
    if isinstance(conv, nn.ConvTranspose2d):
        return F.conv_transpose2d(x, w, conv.bias, conv.stride, conv.padding, conv.output_padding, conv.groups,
                                  conv.dilation)
    if conv.padding_mode != "zeros":
        ph, pw = conv.padding
        x = F.pad(x, (pw, pw, ph, ph), mode=conv.padding_mode)
        return F.conv2d(x, w, conv.bias, conv.stride, 0, conv.dilation, conv.groups)
    return F.conv2d(x, w, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


@pytest.mark.parametrize("path", ["factored", "kernel"])
@pytest.mark.parametrize("name", sorted(CONVS))
def test_flat_lora_conv_equals_the_dense_update_on_any_geometry(name, path):
    torch.manual_seed(0)
    conv = CONVS[name]().to(DT)
    adapter = FlatLoRAConv(conv, rank=3, alpha=3.0, scale=1.5, path=path)
    with torch.no_grad():
        adapter.A.normal_()
        adapter.B.normal_()
    # dW = s * B A, reshaped to the kernel layout (c_out x c_in/g x k x k; transposed: c_in x c_out/g x k x k)
    delta = (1.5 * adapter.B.detach() @ adapter.A.detach()).reshape(conv.weight.shape)
    x = torch.randn(2, 4, 11, 13, dtype=DT)
    want = _dense_reference(conv, delta, x)
    assert not torch.allclose(want, conv(x), rtol=0, atol=1e-3)  # the update matters
    torch.testing.assert_close(adapter(x), want, rtol=0, atol=1e-10)


def test_adapter_dropout_never_touches_the_base_path():
    torch.manual_seed(0)
    base = nn.Linear(8, 6).to(DT)
    adapter = LoRALinear(base, rank=2, alpha=2.0, scale=1.0, lam=0.0, regularize=[], dropout=0.9)
    adapter.train()
    x = torch.randn(64, 8, dtype=DT)
    base_out = F.linear(x, base.weight, base.bias)
    with torch.no_grad():
        adapter.B.zero_()
    # B = 0: the update is zero whatever the dropout draws, so the output is the base output exactly
    torch.testing.assert_close(adapter(x), base_out, rtol=0, atol=0)
    with torch.no_grad():
        adapter.B.normal_()
    # B != 0: what the adapter adds lies in the column space of B (dropout acts on the update's input)
    added = adapter(x) - base_out
    q, _ = torch.linalg.qr(adapter.B.detach())
    off_span = added - added @ q @ q.T
    assert added.abs().max() > 1e-2
    torch.testing.assert_close(off_span, torch.zeros_like(off_span), rtol=0, atol=1e-10)
    adapter.eval()  # no dropout at evaluation: base + s B A x
    want = base_out + x @ adapter.A.detach().T @ adapter.B.detach().T
    torch.testing.assert_close(adapter(x), want, rtol=0, atol=1e-10)
