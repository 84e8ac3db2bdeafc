"""LAVA's reshape-free CP update for convolutions (paper Eq. 3).

For a kernel W of shape ``c_out x c_in/g x k_1 x ... x k_d`` (transposed convs store
``c_in x c_out/g x k...``) the update is

    dW = s * sum_r U[:, r] o V[:, r] o K_1[:, r] o ... o K_d[:, r]

with U over output channels, V over (per-group) input channels and one K_i per kernel mode. The
kernel is never flattened. Two execution paths compute the same output:

* ``kernel``: build dW and run one conv with W + dW;
* ``factored``: 1x1 conv (V) -> per-rank depthwise conv with the outer-product kernel
  K_1 o ... o K_d carrying the base stride / padding / dilation / padding_mode -> 1x1 conv (U).
  (A two-conv variant, one rank-R conv with kernel V o K then 1x1 U, was measured on an H200
  in tools/benchmark_adapters.py and was no faster on ResNet-50 shapes and up to 1.5x slower
  on the large-resolution DPT head convs, so it is not offered.)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from .base import AdapterLayer, init_factor_

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_LETTERS = "abc"

# Measured break-even of the factored path against the kernel path (see choose_path and
# tools/benchmark_adapters.py): the factored path wins when its extra FLOPs are below this
# fraction of the weight-gradient conv that the kernel path pays for.
FACTORED_FLOP_RATIO = 0.5


def conv_modes(conv: _ConvNd) -> tuple[int, int]:
    """(output-channel mode, input-channel mode) of the weight tensor."""
    return (1, 0) if isinstance(conv, _ConvTransposeNd) else (0, 1)


def choose_path(conv: _ConvNd, rank: int) -> str:
    """Pick ``kernel`` or ``factored`` for one layer from its shape alone.

    Per output pixel, the kernel path adds the weight-gradient conv of the full kernel,
    ``c_out * c_in/g * prod(k)`` multiply-adds; the factored path adds forward + two backward
    passes of three small convs, ``3 R (c_in * stride^d + g * prod(k) + c_out)`` (V runs on
    the input pixels). The factored path wins unless the kernel itself is tiny (depthwise
    convs, few channels); measured side by side in tools/benchmark_adapters.py
    (benchmarks/h200_*.txt): on every ResNet-50 and DPT conv shape there, ``auto`` is within
    3% of the faster path. Transposed convs always take the kernel path (measured, below).
    """
    if isinstance(conv, _ConvTransposeNd):
        # measured on an H200 (DPT reassemble k4s4): kernel 1.38x vs factored 1.61x of the base
        # step in fp32, 1.28x vs 1.24x in bf16, so the kernel path is never more than 3% behind
        return "kernel"
    w = conv.weight
    out_mode, in_mode = conv_modes(conv)
    g = conv.groups
    c_out = w.shape[0] if out_mode == 0 else w.shape[1] * g
    c_in = w.shape[1] * g if in_mode == 1 else w.shape[0]
    k = math.prod(w.shape[2:])
    stride = math.prod(conv.stride)
    kernel_cost = c_out * (c_in // g) * k
    factored_cost = 3 * rank * (c_in * stride + g * k + c_out)
    return "factored" if factored_cost < FACTORED_FLOP_RATIO * kernel_cost else "kernel"


class CPConv(AdapterLayer):
    """CP (rank-R, reshape-free) update on ``nn.Conv{1,2,3}d`` / ``nn.ConvTranspose{1,2,3}d``.

    Parameters: ``U`` (c_out_mode x R), ``V`` (c_in_mode x R), ``K1..Kd`` (k_i x R), i.e.
    R * (c_out + c_in/g + sum k_i) for convs and R * (c_in + c_out/g + sum k_i) for transposed
    convs (their per-group mode is the output one).
    """

    def __init__(self, base_layer: _ConvNd, rank: int, alpha: float, scale: float, lam: float,
                 regularize: list[str], path: str = "auto", method: str = "lava", init_zero: str = "V",
                 init: str = "orthonormal"):
        super().__init__(base_layer, rank, alpha, scale, lam, method)
        w = base_layer.weight
        self.transposed = isinstance(base_layer, _ConvTransposeNd)
        self.ndim = w.dim() - 2
        out_mode, in_mode = conv_modes(base_layer)
        kw = dict(device=w.device, dtype=w.dtype)
        self.U = nn.Parameter(torch.empty(w.shape[out_mode], rank, **kw))
        self.V = nn.Parameter(torch.empty(w.shape[in_mode], rank, **kw))
        names = {"U": "U", "V": "V"}
        for i, k in enumerate(w.shape[2:]):
            setattr(self, f"K{i + 1}", nn.Parameter(torch.empty(k, rank, **kw)))
            names[f"K{i + 1}"] = "K"
        self.factor_names = names
        self.regularize = list(regularize)
        self.path = choose_path(base_layer, rank) if path == "auto" else path
        self.init_zero, self.init = init_zero, init
        self.reset_factors()

    def reset_factors(self) -> None:
        """``init_zero`` (U, V, or K meaning K1) starts at zero so dW = 0; every other factor gets
        the ``init`` scheme (``base.init_factor_``). Independent of lam and of ``regularize``."""
        zero = "K1" if self.init_zero == "K" else self.init_zero
        if zero not in self.factor_names:
            raise ValueError(f"init_zero={self.init_zero!r}: expected U, V or K")
        for name in self.factor_names:
            init_factor_(getattr(self, name), "zero" if name == zero else self.init)

    @property
    def kernels(self) -> list[torch.Tensor]:
        return [getattr(self, f"K{i + 1}") for i in range(self.ndim)]

    def delta_weight(self) -> torch.Tensor:
        """dW in the base weight's layout, ``c_out x c_in/g x k...`` (transposed: ``c_in x c_out/g x k...``)."""
        first, second = (self.V, self.U) if self.transposed else (self.U, self.V)
        modes = _LETTERS[: self.ndim]
        eq = "xr,yr," + ",".join(f"{m}r" for m in modes) + "->xy" + modes
        return torch.einsum(eq, first, second, *self.kernels) * self.scale

    def penalty_factors(self, kinds: list[str]) -> list[tuple[torch.Tensor, bool, int]]:
        return [(getattr(self, name), False, 1) for name, kind in self.factor_names.items() if kind in kinds]

    # -- forward paths ---------------------------------------------------------------------
    def _output_padding(self, x: torch.Tensor, output_size) -> list[int]:
        b = self.base_layer
        return b._output_padding(x, output_size, b.stride, b.padding, b.kernel_size, self.ndim,
                                 b.dilation)

    def adapter_forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if self.path == "kernel":
            return self._forward_kernel(x, output_size)
        return self._forward_factored(x, output_size)

    def _forward_kernel(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        b = self.base_layer
        weight = b.weight + self.delta_weight()
        if not self.transposed:
            return b._conv_forward(x, weight, b.bias)
        return _CONV_T[self.ndim](x, weight, b.bias, b.stride, b.padding,
                                  self._output_padding(x, output_size), b.groups, b.dilation)

    def _spatial_kernel(self) -> torch.Tensor:
        """Per-rank outer product of the K_i, scaled: ``R x k_1 x ... x k_d`` (broadcast products:
        fewer kernels than einsum, which matters because these layers are launch-bound)."""
        out = None
        for i, k in enumerate(self.kernels):
            shape = [self.rank] + [1] * self.ndim
            shape[i + 1] = k.shape[0]
            term = k.t().reshape(shape)
            out = term * self.scale if out is None else out * term
        return out

    def _forward_factored(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        """base(x) + U(K(V(x))): 1x1 conv (V), per-rank depthwise conv with K_1 o ... o K_d
        carrying the base geometry, 1x1 conv (U); channel mixing commutes with the padding."""
        b, d, r, g = self.base_layer, self.ndim, self.rank, self.base_layer.groups
        ones = (1,) * d
        spatial = self._spatial_kernel().unsqueeze(1)  # R x 1 x k...
        if g > 1:
            spatial = spatial.repeat(g, *(1,) * (d + 1))  # gR x 1 x k...
        if not self.transposed:
            y = b(x)
            v = self.V.t() if g == 1 else self.V.t().repeat(g, 1)  # gR x c_in/g
            z = _CONV[d](x, v.reshape(g * r, -1, *ones), groups=g)
            if b.padding_mode != "zeros":
                z = F.pad(z, b._reversed_padding_repeated_twice, mode=b.padding_mode)
                z = _CONV[d](z, spatial, None, b.stride, 0, b.dilation, g * r)
            else:
                z = _CONV[d](z, spatial, None, b.stride, b.padding, b.dilation, g * r)
            u = self.U
        else:
            y = b(x, output_size)
            c_in_g = self.V.shape[0] // g
            v = self.V.reshape(g, c_in_g, r).transpose(1, 2).reshape(g * r, c_in_g, *ones)
            z = _CONV[d](x, v, groups=g)
            z = _CONV_T[d](z, spatial, None, b.stride, b.padding, self._output_padding(x, output_size), g * r,
                           b.dilation)
            u = self.U if g == 1 else self.U.repeat(g, 1)
        return y + _CONV[d](z, u.reshape(-1, r, *ones), groups=g)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", path={self.path}"
