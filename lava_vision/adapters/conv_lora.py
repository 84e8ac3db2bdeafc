"""Baseline: PEFT-style LoRA on a convolution, which flattens the kernel.

The weight (``c_out x c_in/g x k...``; transposed convs ``c_in x c_out/g x k...``) is viewed
as a matrix ``mode0 x rest`` and updated by s * B A with A: ``R x rest``, B: ``mode0 x R``.
This is the "reshape-involved" method the paper compares against (section 3).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from .base import AdapterLayer, init_factor_
from .conv_cp import _CONV, _CONV_T


class FlatLoRAConv(AdapterLayer):
    """LoRA with the kernel flattened: A (R x c_in/g*prod k), B (c_out x R); init: ``reset_factors``.

    ``factored`` path (ungrouped, non-transposed convs only, as in PEFT): a conv with A as an
    R-channel kernel carrying the base stride/padding, then a 1x1 conv with B.
    """

    def __init__(self, base_layer: _ConvNd, rank: int, alpha: float, scale: float, lam: float = 0.0,
                 path: str = "auto", method: str = "lora", init_zero: str = "B",
                 init: str = "kaiming_uniform"):
        super().__init__(base_layer, rank, alpha, scale, lam, method)
        w = base_layer.weight
        kw = dict(device=w.device, dtype=w.dtype)
        self.transposed = isinstance(base_layer, _ConvTransposeNd)
        self.ndim = w.dim() - 2
        self.A = nn.Parameter(torch.empty(rank, w[0].numel(), **kw))
        self.B = nn.Parameter(torch.empty(w.shape[0], rank, **kw))
        self.factor_names = {"A": "A", "B": "B"}
        self.init_zero, self.init = init_zero, init
        self.reset_factors()
        can_factor = not self.transposed and base_layer.groups == 1
        self.path = "factored" if (path in ("auto", "factored", "two_conv") and can_factor) else "kernel"

    def reset_factors(self) -> None:
        """``init_zero`` (A or B) starts at zero so dW = 0; the other gets the ``init`` scheme
        (``base.init_factor_``; ``kaiming_uniform`` on A is PEFT's default). Independent of lam."""
        if self.init_zero not in ("A", "B"):
            raise ValueError(f"init_zero={self.init_zero!r}: expected A or B")
        for name, in_rows in (("A", True), ("B", False)):
            init_factor_(getattr(self, name), "zero" if name == self.init_zero else self.init, in_rows)

    def delta_weight(self) -> torch.Tensor:
        w = self.base_layer.weight
        return (self.B @ self.A).reshape(w.shape) * self.scale

    def penalty_factors(self, kinds: list[str]) -> list[tuple[torch.Tensor, bool, int]]:
        return [(getattr(self, k), k == "A", 1) for k in ("A", "B") if k in kinds]

    def _apply_weight(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      output_size=None) -> torch.Tensor:
        """The base layer's conv with another weight (and bias)."""
        b = self.base_layer
        if not self.transposed:
            return b._conv_forward(x, weight, bias)
        pad = b._output_padding(x, output_size, b.stride, b.padding, b.kernel_size, self.ndim, b.dilation)
        return _CONV_T[self.ndim](x, weight, bias, b.stride, b.padding, pad, b.groups, b.dilation)

    def adapter_forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        b = self.base_layer
        if self.path == "kernel":
            return self._apply_weight(x, b.weight + self.delta_weight(), b.bias, output_size)
        return b(x) + self.update_forward(x)

    def update_forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        b = self.base_layer
        if self.path == "kernel":
            return self._apply_weight(x, self.delta_weight(), None, output_size)
        a = self.A.reshape(self.rank, *b.weight.shape[1:])
        xin, padding = x, b.padding
        if b.padding_mode != "zeros":
            xin, padding = F.pad(x, b._reversed_padding_repeated_twice, mode=b.padding_mode), 0
        z = _CONV[self.ndim](xin, a, None, b.stride, padding, b.dilation)
        u = (self.B * self.scale).reshape(*self.B.shape, *(1,) * self.ndim)
        return _CONV[self.ndim](z, u)
