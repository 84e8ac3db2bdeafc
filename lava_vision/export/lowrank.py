"""Each adapter layer's update as an exact LoRA pair (``down``, ``up``), the form PEFT, diffusers,
kohya, ComfyUI, A1111 and LyCORIS all read, or the reason it has none.

* LoRA-form linear: ``down = A`` (R x in), ``up = s B`` (out x R). A fused projection that adapts
  n of its output chunks with one rank-R pair each is one rank-nR pair: ``down`` stacks the A_j,
  ``up`` is block-diagonal (chunk rows of j x columns jR..(j+1)R hold s B_j, the rest is zero).
* LAVA CP conv: dW[o,i,h,w] = s sum_r U[o,r] V[i,r] K1[h,r] K2[w,r] is a rank-R flattened LoRA:
  ``down[r,i,h,w] = V[i,r] K1[h,r] K2[w,r]`` (R x c_in x kh x kw, a conv with the base kernel,
  stride and padding) and ``up = s U`` (c_out x R x 1 x 1). Optionally the Tucker form with a
  diagonal core: ``down = V^T`` (1 x 1), ``mid[a,b,h,w] = delta_ab K1[h,a] K2[w,a]``, ``up = s U``.
* Flattened-LoRA conv (the baseline): ``down = A`` reshaped to R x c_in x k..., ``up = s B``.

The scale s is always folded into ``up``, so a loader's own scale must be 1 (alpha = rank); so is the
adapter's weight w when it is active alone at a weight (``set_adapter(model, {"a": w})``): the pair
is then that of w dW, what the model computes (``up = w s B``; weight 1 otherwise).
Convolutions that a LoRA pair run by a loader cannot reproduce are refused with the reason:
transposed or grouped convs, dilation other than 1 (PEFT's and kohya's ``lora_A`` conv copy
kernel size, stride and padding but not dilation) and non-zero padding modes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..adapters import AdapterLayer, CPConv, FlatLoRAConv, LoRALinear, active_adapters


@dataclass
class LowRank:
    """dW = up . [mid] . down, exactly, with the adapter scale folded into ``up``.

    down: ``R x in`` (linear) or ``R x c_in x k...`` (conv; 1 x 1 x ... in the Tucker form);
    up: ``out x R`` (linear) or ``c_out x R x 1...`` (conv); mid: ``R x R x k...`` (Tucker only)."""

    down: torch.Tensor
    up: torch.Tensor
    mid: torch.Tensor | None = None

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    def delta(self) -> torch.Tensor:
        """dW rebuilt from the pair in float64, in the base weight's layout (what loaders compute)."""
        up, down = self.up.double().flatten(1), self.down.double().flatten(1)
        if self.mid is None:
            return (up @ down).reshape(self.up.shape[0], *self.down.shape[1:])
        core = torch.einsum("oa,ab...->ob...", up, self.mid.double())  # c_out x R x k...
        return torch.einsum("ob...,bi->oi...", core, down)


def conv_refusal(conv: nn.Module) -> str | None:
    """Why a LoRA pair run by PEFT / kohya loaders cannot reproduce an update on ``conv``, or None."""
    name = type(conv).__name__
    if isinstance(conv, nn.modules.conv._ConvTransposeNd):
        return f"{name}: transposed convolutions have no LoRA layout in PEFT or kohya"
    if conv.groups != 1:
        return f"{name} with groups={conv.groups}: the LoRA conv pair has no grouped form"
    if any(d != 1 for d in conv.dilation):
        return (f"{name} with dilation={tuple(conv.dilation)}: the loaders' lora_A conv copies kernel size, "
                "stride and padding but not dilation")
    if conv.padding_mode != "zeros":
        return f"{name} with padding_mode={conv.padding_mode!r}: the loaders' lora_A conv pads with zeros"
    return None


def mix_weight(layer: AdapterLayer) -> float:
    """The weight the model runs ``layer``'s update at: its mix weight, 1 for an inactive layer
    (exported alone, an adapter is its own update)."""
    return 1.0 if layer.mix_weight is None else float(layer.mix_weight)


def weight_note(model: nn.Module) -> str | None:
    """A report note when the exported adapter runs at a weight other than 1 (folded into the export)."""
    weights = {n: w for n, w in active_adapters(model).items() if w != 1.0}
    if not weights:
        return None
    said = ", ".join(f"adapter {n!r} x {w:g}" for n, w in weights.items())
    return f"exported at the weight the model runs it: {said} (folded into the update)"


def _scale(layer: AdapterLayer) -> float:
    return layer.scale * mix_weight(layer)


@torch.no_grad()
def _linear_pair(layer: LoRALinear) -> LowRank:
    n, r, chunk = len(layer.selected), layer.rank, layer.chunk
    a = layer.A.double()  # n*R x in, block j = rows jR..(j+1)R
    b = layer.B.double().reshape(n, chunk, r) * _scale(layer)
    up = a.new_zeros(layer.base_layer.weight.shape[0], n * r)
    for j, c in enumerate(layer.selected):
        up[c * chunk:(c + 1) * chunk, j * r:(j + 1) * r] = b[j]
    return LowRank(down=a, up=up)


@torch.no_grad()
def _cp_pair(layer: CPConv, tucker: bool) -> LowRank:
    d, r = layer.ndim, layer.rank
    v = layer.V.double()  # c_in x R
    ks = [k.double() for k in layer.kernels]  # k_i x R
    up = (layer.U.double() * _scale(layer)).reshape(-1, r, *(1,) * d)
    if tucker and any(k.shape[0] != 1 for k in ks):
        modes = "abc"[:d]
        spatial = torch.einsum(",".join(f"{m}r" for m in modes) + "->r" + modes, *ks)  # R x k...
        mid = v.new_zeros(r, r, *spatial.shape[1:])
        idx = torch.arange(r)
        mid[idx, idx] = spatial
        return LowRank(down=v.t().reshape(r, -1, *(1,) * d), up=up, mid=mid)
    modes = "abc"[:d]
    down = torch.einsum("ir," + ",".join(f"{m}r" for m in modes) + "->ri" + modes, v, *ks)
    return LowRank(down=down, up=up)


def lowrank_form(layer: AdapterLayer, tucker: bool = False) -> LowRank | str:
    """The exact (``down``, ``up``[, ``mid``]) pair of one adapter layer's ``w dW`` (w: ``mix_weight``;
    CPU, the factors' dtype), or why
    it has none. ``tucker``: CP convs with a spatial kernel keep the diagonal-core Tucker form.

    The pair is rebuilt and compared with ``layer.delta_weight()`` before it is returned, so a
    factor layout this module misreads fails loudly instead of exporting a different update."""
    if isinstance(layer, LoRALinear):
        pair = _linear_pair(layer)
    elif isinstance(layer, (CPConv, FlatLoRAConv)):
        reason = conv_refusal(layer.base_layer)
        if reason is not None:
            return reason
        if isinstance(layer, CPConv):
            pair = _cp_pair(layer, tucker)
        else:
            with torch.no_grad():
                w = layer.base_layer.weight
                pair = LowRank(down=layer.A.double().reshape(layer.rank, *w.shape[1:]),
                               up=(layer.B.double() * _scale(layer)).reshape(w.shape[0], layer.rank,
                                                                           *(1,) * (w.dim() - 2)))
    else:
        return f"{type(layer).__name__}: no LoRA form"
    _check(layer, pair)
    dtype = layer.base_layer.weight.dtype
    cast = {k: (None if v is None else v.detach().to("cpu", dtype, copy=True).contiguous())
            for k, v in vars(pair).items()}
    return LowRank(**cast)


def _check(layer: AdapterLayer, pair: LowRank) -> None:
    """Refuse a pair whose product is not the layer's own w dW (to the rounding of its dtype)."""
    with torch.no_grad():
        want = layer.delta_weight() * mix_weight(layer)
        got = pair.delta()
    tol = 256 * torch.finfo(want.dtype).eps * want.abs().max().item() + 1e-30
    err = (got - want.double()).abs().max().item() if got.shape == want.shape else float("inf")
    if not err <= tol:
        raise RuntimeError(f"{type(layer).__name__}: the exported pair differs from delta_weight() by {err:g} "
                           f"(shapes {list(got.shape)} / {list(want.shape)}); this export does not understand "
                           "this adapter's factor layout")
