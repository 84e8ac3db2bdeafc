"""LAVA's reshape-free CP update for convolutions (paper Eq. 3).

For a kernel W of shape ``c_out x c_in/g x k_1 x ... x k_d`` (transposed convs store
``c_in x c_out/g x k...``) the update is

    dW = s * sum_r U[:, r] o V[:, r] o K_1[:, r] o ... o K_d[:, r]

with U over output channels, V over (per-group) input channels and one K_i per kernel mode. The
kernel is never flattened. Two execution paths compute the same output:

* ``kernel``: build dW and run one conv with W + dW;
* ``factored``: a rank-R conv whose kernel V o K_1 o ... o K_d (``R x c_in/g x k...``, built
  from the factors, never from dW) carries the base stride / padding / dilation / padding_mode,
  then a 1x1 conv with U. (A three-conv variant, 1x1 V -> per-rank depthwise K -> 1x1 U, has
  fewer FLOPs but was 1.3-1.9x slower on an H200 in tools/benchmark_adapters.py: kernel
  launches, not FLOPs, dominate at these sizes.)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from .base import AdapterLayer, orthonormal_, unit_columns_

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
    passes of its rank-R conv and 1x1 conv, ``3 R (c_in * prod(k) + c_out)``. The factored path
    wins unless the kernel is tiny (depthwise convs, few channels).
    """
    w = conv.weight
    out_mode, in_mode = conv_modes(conv)
    g = conv.groups
    c_out = w.shape[0] if out_mode == 0 else w.shape[1] * g
    c_in = w.shape[1] * g if in_mode == 1 else w.shape[0]
    k = math.prod(w.shape[2:])
    kernel_cost = c_out * (c_in // g) * k
    factored_cost = 3 * rank * (c_in * k + c_out)
    return "factored" if factored_cost < FACTORED_FLOP_RATIO * kernel_cost else "kernel"


class CPConv(AdapterLayer):
    """CP (rank-R, reshape-free) update on ``nn.Conv{1,2,3}d`` / ``nn.ConvTranspose{1,2,3}d``.

    Parameters: ``U`` (c_out_mode x R), ``V`` (c_in_mode x R), ``K1..Kd`` (k_i x R), i.e.
    R * (c_out + c_in/g + sum k_i) for convs and R * (c_in + c_out/g + sum k_i) for transposed
    convs (their per-group mode is the output one).
    """

    def __init__(self, base_layer: _ConvNd, rank: int, alpha: float, scale: float, lam: float,
                 regularize: list[str], path: str = "auto", method: str = "lava"):
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
        self.reset_factors()

    def reset_factors(self) -> None:
        """Regularised factors start orthonormal (penalty 0); the first unregularised factor in
        the order V, K1..Kd, U starts at zero so dW = 0; the rest get unit-norm columns."""
        order = ["V"] + [f"K{i + 1}" for i in range(self.ndim)] + ["U"]
        zero = next((n for n in order if self.factor_names[n] not in self.regularize), "U")
        for name in order:
            p = getattr(self, name)
            if name == zero:
                nn.init.zeros_(p)
            elif self.factor_names[name] in self.regularize:
                orthonormal_(p)
            else:
                unit_columns_(p)

    @property
    def kernels(self) -> list[torch.Tensor]:
        return [getattr(self, f"K{i + 1}") for i in range(self.ndim)]

    def delta_weight(self) -> torch.Tensor:
        """dW in the base weight's layout, ``c_out x c_in/g x k...`` (transposed: ``c_in x c_out/g x k...``)."""
        first, second = (self.V, self.U) if self.transposed else (self.U, self.V)
        modes = _LETTERS[: self.ndim]
        eq = "xr,yr," + ",".join(f"{m}r" for m in modes) + "->xy" + modes
        return torch.einsum(eq, first, second, *self.kernels) * self.scale

    def regularized_factors(self, kinds: list[str]) -> list[torch.Tensor]:
        out = []
        for name, kind in self.factor_names.items():
            if kind in kinds:
                out.append(getattr(self, name).unsqueeze(0))
        return out

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

    def _input_kernel(self) -> torch.Tensor:
        """The rank-R "down" kernel V o K_1 o ... o K_d, scaled, never a full-size dW.

        Convs: ``g*R x c_in/g x k...`` (the same V for every group). Transposed convs (their
        weight is ``in x out/g x k...``): ``c_in x R x k...``.
        """
        d, r, g = self.ndim, self.rank, self.base_layer.groups
        modes = _LETTERS[: d]
        ks = ",".join(f"{m}r" for m in modes)
        if self.transposed:
            return torch.einsum(f"ir,{ks}->ir{modes}", self.V, *self.kernels) * self.scale
        down = torch.einsum(f"ir,{ks}->ri{modes}", self.V, *self.kernels) * self.scale
        return down.repeat(g, *(1,) * (d + 1)) if g > 1 else down

    def _forward_factored(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        """base(x) + U(down(x)): a rank-R conv carrying the base geometry, then a grouped 1x1."""
        b, d, r, g = self.base_layer, self.ndim, self.rank, self.base_layer.groups
        down = self._input_kernel()
        if self.transposed:
            y = b(x, output_size)
            z = _CONV_T[d](x, down, None, b.stride, b.padding, self._output_padding(x, output_size), g,
                           b.dilation)
            u = self.U.repeat(g, 1) if g > 1 else self.U
        else:
            y = b(x)
            if b.padding_mode != "zeros":
                z = _CONV[d](F.pad(x, b._reversed_padding_repeated_twice, mode=b.padding_mode), down, None,
                             b.stride, 0, b.dilation, g)
            else:
                z = _CONV[d](x, down, None, b.stride, b.padding, b.dilation, g)
            u = self.U
        return y + _CONV[d](z, u.reshape(-1, r, *(1,) * d), groups=g)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", path={self.path}"
