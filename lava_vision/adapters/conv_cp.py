"""LAVA's reshape-free CP update for convolutions (paper Eq. 3).

For a kernel W of shape ``c_out x c_in/g x k_1 x ... x k_d`` (transposed convs store
``c_in x c_out/g x k...``) the update is

    dW = s * sum_r U[:, r] o V[:, r] o K_1[:, r] o ... o K_d[:, r]

with U over output channels, V over (per-group) input channels and one K_i per kernel mode. The
kernel is never flattened. Three execution paths compute the same output:

* ``kernel``: build dW and run one conv with W + dW;
* ``factored``: 1x1 conv (V) -> per-rank depthwise conv with the outer-product kernel
  K_1 o ... o K_d carrying the base stride / padding / dilation / padding_mode -> 1x1 conv (U).
  On a 1x1 kernel the depthwise conv is a per-rank scalar, so it is folded away and this is
  the ``two_conv`` path (exactly LoRA's two 1x1 convs);
* ``two_conv``: one rank-R conv whose kernel V o K_1 o ... o K_d (``R x c_in/g x k...``, built
  once per call) carries the base geometry, then 1x1 U: the launches of PEFT's conv LoRA.
  Transposed convs put U o K in the transposed conv instead (1x1 V first).

``auto`` picks one per layer from its shape and the device type (``choose_path``).
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

PATHS = ("kernel", "factored", "two_conv")
# Measured break-evens (see choose_path and tools/benchmark_adapters.py): a low-rank path wins
# when its extra FLOPs are below this fraction of the weight-gradient conv the kernel path pays.
FACTORED_FLOP_RATIO = 0.5


def conv_modes(conv: _ConvNd) -> tuple[int, int]:
    """(output-channel mode, input-channel mode) of the weight tensor."""
    return (1, 0) if isinstance(conv, _ConvTransposeNd) else (0, 1)


def choose_path(conv: _ConvNd, rank: int, device_type: str = "cuda") -> str:
    """Pick ``kernel``, ``factored`` or ``two_conv`` for one layer from its shape and the device type.

    Per output pixel and training step (forward, input gradient, weight gradient), the kernel
    path adds the weight-gradient conv of the full kernel, ``c_out * c_in/g * prod(k)``
    multiply-adds; ``factored`` adds ``3 R (c_in * stride^d + g * prod(k) + c_out)`` in three
    small convs (V runs on the input pixels); ``two_conv`` adds ``3 R (c_in * prod(k) + c_out)``
    in two. 1x1 kernels take ``two_conv`` (the folded factored path, same FLOPs and fewer
    launches) unless the kernel itself is tiny. For k x k kernels, measured side by side in
    tools/benchmark_adapters.py: on an H200 the launch-bound ``factored`` path won
    (benchmarks/h200_*.txt: ``two_conv`` no faster on ResNet-50 shapes, up to 1.5x slower on the
    DPT head); on CPU ``two_conv`` (tools/benchmark_models.py, see below).
    """
    w = conv.weight
    out_mode, in_mode = conv_modes(conv)
    g = conv.groups
    c_out = w.shape[0] if out_mode == 0 else w.shape[1] * g
    c_in = w.shape[1] * g if in_mode == 1 else w.shape[0]
    k = math.prod(w.shape[2:])
    stride = math.prod(conv.stride)
    kernel_cost = c_out * (c_in // g) * k
    two_cost = 3 * rank * (c_in * k + c_out)
    if isinstance(conv, _ConvTransposeNd):
        # measured on an H200 (DPT reassemble k4s4): kernel 1.38x vs factored 1.61x of the base
        # step in fp32, 1.28x vs 1.24x in bf16, so the kernel path is never more than 3% behind;
        # on CPU (benchmarks/cpu_layers.txt, same layer): factored 1.15x, two_conv 1.49x, kernel 1.79x
        factored_cost = 3 * rank * (c_in + g * k + c_out * stride)
        return "kernel" if device_type == "cuda" or kernel_cost <= factored_cost else "factored"
    if k == 1:
        return "two_conv" if two_cost < FACTORED_FLOP_RATIO * kernel_cost else "kernel"
    if device_type == "cuda":
        factored_cost = 3 * rank * (c_in * stride + g * k + c_out)
        return "factored" if factored_cost < FACTORED_FLOP_RATIO * kernel_cost else "kernel"
    # CPU: whole-model steps (benchmarks/cpu_quick_*.txt) put the three-conv path 4-25% behind
    # PEFT's two convs on ResNet / DPT k x k layers, and it saves one more map for backward. The
    # CPU is compute-bound, not launch-bound: two convs win whenever they add fewer FLOPs than the
    # kernel path's weight gradient (the GPU's 0.5 margin made small k x k layers take the
    # kernel path, which also keeps the full summed kernel for backward; 1x1 layers keep it above)
    return "two_conv" if two_cost < kernel_cost else "kernel"


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
        if path not in PATHS + ("auto",):
            raise ValueError(f"conv path {path!r}: expected one of {PATHS + ('auto',)}")
        self.requested_path = path
        self.path = choose_path(base_layer, rank, w.device.type) if path == "auto" else path
        self.pads = _reversed_pads(base_layer)
        self.pointwise = all(k == 1 for k in w.shape[2:])
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
        """dW in the base weight's layout, ``c_out x c_in/g x k...`` (transposed: ``c_in x c_out/g x k...``).

        Built as the rank-R kernel (second o K_1 o ... o K_d, ``R x second x k...``) and one matmul
        with the first factor: autograd then keeps only that small kernel, where a four-operand
        einsum keeps ``first x second x R`` intermediates (the kernel path runs this every step)."""
        first, second = (self.V, self.U) if self.transposed else (self.U, self.V)
        r, ones = self.rank, (1,) * self.ndim
        a = second.t().reshape(r, -1, *ones) * self._spatial_kernel().unsqueeze(1)  # R x second x k...
        return (first @ a.reshape(r, -1)).reshape(first.shape[0], *a.shape[1:])

    def penalty_factors(self, kinds: list[str]) -> list[tuple[torch.Tensor, bool, int]]:
        return [(getattr(self, name), False, 1) for name, kind in self.factor_names.items() if kind in kinds]

    def _apply(self, fn, recurse=True):
        """``.to(device)`` re-picks an ``auto`` path for the new device type."""
        out = super()._apply(fn, recurse)
        if self.requested_path == "auto":
            self.path = choose_path(self.base_layer, self.rank, self.base_layer.weight.device.type)
        return out

    # -- forward paths ---------------------------------------------------------------------
    def _output_padding(self, x: torch.Tensor, output_size) -> list[int]:
        # no public API computes this from output_size; nn.ConvTranspose*d.forward calls it too
        b = self.base_layer
        return b._output_padding(x, output_size, b.stride, b.padding, b.kernel_size, self.ndim,
                                 b.dilation)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int) -> torch.Tensor:
        """A conv with the base layer's stride / padding / dilation / padding_mode."""
        b = self.base_layer
        if b.padding_mode != "zeros":
            return _CONV[self.ndim](F.pad(x, self.pads, mode=b.padding_mode), weight, bias, b.stride, 0,
                                    b.dilation, groups)
        return _CONV[self.ndim](x, weight, bias, b.stride, b.padding, b.dilation, groups)

    def adapter_forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if self.path == "kernel":  # one conv with W + dW
            return self._apply_weight(x, self.base_layer.weight + self.delta_weight(), self.base_layer.bias,
                                      output_size)
        return self._base(x, output_size) + self.update_forward(x, output_size)

    def update_forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if self.path == "kernel":
            return self._apply_weight(x, self.delta_weight(), None, output_size)
        if self.path == "two_conv" or self.pointwise:
            return self._update_two_conv(x, output_size)
        return self._update_factored(x, output_size)

    def _base(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        return self.base_layer(x, output_size) if self.transposed else self.base_layer(x)

    def _apply_weight(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      output_size=None) -> torch.Tensor:
        """The base layer's conv with another weight (and bias)."""
        b = self.base_layer
        if not self.transposed:
            return self._conv(x, weight, bias, b.groups)
        return _CONV_T[self.ndim](x, weight, bias, b.stride, b.padding,
                                  self._output_padding(x, output_size), b.groups, b.dilation)

    def _spatial_kernel(self) -> torch.Tensor:
        """Per-rank outer product of the K_i, scaled: ``R x k_1 x ... x k_d`` (broadcast products:
        fewer kernels than einsum, which matters because these layers are launch-bound)."""
        out = None
        for i, k in enumerate(self.kernels):
            shape = [self.rank] + [1] * self.ndim
            shape[i + 1] = k.shape[0]
            term = k.t().reshape(shape)
            if out is None:  # s = 1 (alpha = rank, the default) costs no kernel
                out = term * self.scale if self.scale != 1.0 else term
            else:
                out = out * term
        return out

    def _update_two_conv(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        """U((V o K)(x)): one rank-R conv with the kernel V o K_1 o ... o K_d carrying the
        base geometry, then 1x1 U (on a 1x1 kernel, V o K is V times a per-rank scalar).
        Transposed: 1x1 V, then the transposed conv with U o K."""
        b, d, r, g = self.base_layer, self.ndim, self.rank, self.base_layer.groups
        ones = (1,) * d
        spatial = self._spatial_kernel().unsqueeze(1)  # R x 1 x k...
        if not self.transposed:
            a = self.V.t().reshape(r, -1, *ones) * spatial  # R x c_in/g x k...
            if g > 1:
                a = a.repeat(g, *(1,) * (d + 1))
            z = self._conv(x, a, None, g)
            return _CONV[d](z, self.U.reshape(-1, r, *ones), groups=g)
        c_in_g = self.V.shape[0] // g
        v = self.V.reshape(g, c_in_g, r).transpose(1, 2).reshape(g * r, c_in_g, *ones)
        z = _CONV[d](x, v, groups=g)
        kt = self.U.t().reshape(r, -1, *ones) * spatial  # R x c_out/g x k...
        if g > 1:
            kt = kt.repeat(g, *(1,) * (d + 1))
        return _CONV_T[d](z, kt, None, b.stride, b.padding, self._output_padding(x, output_size), g, b.dilation)

    def _update_factored(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        """U(K(V(x))): 1x1 conv (V), per-rank depthwise conv with K_1 o ... o K_d
        carrying the base geometry, 1x1 conv (U); channel mixing commutes with the padding."""
        b, d, r, g = self.base_layer, self.ndim, self.rank, self.base_layer.groups
        ones = (1,) * d
        spatial = self._spatial_kernel().unsqueeze(1)  # R x 1 x k...
        if g > 1:
            spatial = spatial.repeat(g, *(1,) * (d + 1))  # gR x 1 x k...
        if not self.transposed:
            v = self.V.t() if g == 1 else self.V.t().repeat(g, 1)  # gR x c_in/g
            z = _CONV[d](x, v.reshape(g * r, -1, *ones), groups=g)
            z = self._conv(z, spatial, None, g * r)
            u = self.U
        else:
            c_in_g = self.V.shape[0] // g
            v = self.V.reshape(g, c_in_g, r).transpose(1, 2).reshape(g * r, c_in_g, *ones)
            z = _CONV[d](x, v, groups=g)
            z = _CONV_T[d](z, spatial, None, b.stride, b.padding, self._output_padding(x, output_size), g * r,
                           b.dilation)
            u = self.U if g == 1 else self.U.repeat(g, 1)
        return _CONV[d](z, u.reshape(-1, r, *ones), groups=g)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", path={self.path}"


def _reversed_pads(conv: _ConvNd) -> list[int]:
    """``F.pad`` amounts of the base padding, last spatial dim first (what nn.Conv*d keeps in
    its private ``_reversed_padding_repeated_twice``)."""
    if isinstance(conv.padding, str):  # "same" (left gets the smaller half) or "valid"
        out = []
        for dil, k in zip(reversed(conv.dilation), reversed(conv.kernel_size)):
            total = dil * (k - 1) if conv.padding == "same" else 0
            out += [total // 2, total - total // 2]
        return out
    return [p for p in reversed(conv.padding) for _ in range(2)]
