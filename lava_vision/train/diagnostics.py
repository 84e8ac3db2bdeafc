"""Training-time diagnostics (``train.diagnostics=true``): the paper's Figure 7 and Eq. 5 per layer.

* Gradient variance of each layer's up-projection factor (``B`` of LoRA-form layers, ``U`` of CP
  convs) over a window of optimiser steps: ``Var = sum_i var_t(g_t[i]) = E_t ||g_t - mean_t g||_F^2``
  (the total variance bounded in the paper's Proposition 1), unbiased (divided by n - 1).
* ``||F^T F - I||_F`` per layer over its regularised factors (root of the sum of squares when a
  layer has several).

Cost when on: per step, three multi-tensor kernels over the up factors' gradients and two extra
buffers of the up factors' size (the shifted-data variance: accumulating ``g_t - g_first`` keeps
float32 exact when the variance is small next to the mean). Nothing synchronises with the device
until ``flush``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..adapters import adapter_layers
from ..adapters.regularizer import orthogonality_sq_error

UP_FACTORS = ("B", "U")


class GradientWindow:
    """Per-layer gradient variance of the up factor over the steps recorded since the last flush.

    ``record()`` after backward (and gradient unscaling), once per optimiser step; ``flush()``
    returns ``{"grad_var/<layer>": variance}`` for layers with >= 2 recorded steps and starts a
    new window.
    """

    def __init__(self, model: nn.Module) -> None:
        self.params: list[tuple[str, torch.nn.Parameter]] = []
        for name, layer in adapter_layers(model):
            for pname, kind in layer.factor_names.items():
                if kind in UP_FACTORS:
                    self.params.append((name, getattr(layer, pname)))
        self._reset()

    def _reset(self) -> None:
        self.count = 0
        self.shift: list[torch.Tensor] = []
        self.sums: list[torch.Tensor] = []
        self.squares: torch.Tensor | None = None

    def record(self) -> None:
        grads = [p.grad for _, p in self.params]
        if not grads or any(g is None for g in grads):
            return  # a step without gradients (e.g. skipped) is not a sample
        grads = [g.detach().float() for g in grads]
        if self.count == 0:
            self.shift = [g.clone() for g in grads]
            self.sums = [torch.zeros_like(g) for g in grads]
            self.squares = torch.zeros(len(grads), dtype=torch.float32, device=grads[0].device)
        else:
            d = torch._foreach_sub(grads, self.shift)
            torch._foreach_add_(self.sums, d)
            self.squares += torch.stack(torch._foreach_norm(d)).square()
        self.count += 1

    def flush(self) -> dict[str, float]:
        out = {}
        n = self.count
        if n >= 2:
            sums_sq = torch.stack(torch._foreach_norm(self.sums)).square()
            var = ((self.squares - sums_sq / n) / (n - 1)).clamp_min(0).tolist()
            for (name, _), v in zip(self.params, var):
                key = f"grad_var/{name}"
                out[key] = out.get(key, 0.0) + v  # a layer with two up factors sums them
        self._reset()
        return out


def layer_orthogonality_errors(model: nn.Module) -> dict[str, float]:
    """``{"orth_error/<layer>": sqrt(sum_F ||F^T F - I||_F^2)}`` over each layer's regularised
    factors, plus ``orth_error_max`` and ``orth_error_mean`` over layers; empty if none."""
    out = {}
    with torch.no_grad():
        for name, layer in adapter_layers(model):
            factors = layer.regularized_factors(getattr(layer, "regularize", []))
            if not factors:
                continue
            total = orthogonality_sq_error(factors, torch.float32)
            out[f"orth_error/{name}"] = math.sqrt(total)
    if out:
        values = list(out.values())
        out["orth_error_max"], out["orth_error_mean"] = max(values), sum(values) / len(values)
    return out
