"""The column-orthogonal regulariser  sum_layers lam_l * ||F_l^T F_l - I_R||_F^2  (paper Eq. 5).

F holds a factor's R rank vectors as columns (CP conv: U and/or V and/or K_i; linear: A^T
and/or B). Its gradient is 4 lam F (F^T F - I). Factors of equal shape are stacked and handled
by one batched matmul, so the cost is a handful of kernels whatever the number of layers.
"""
from __future__ import annotations

import functools
from collections import defaultdict

import torch
from torch import nn

from .injector import STATE_ATTR, adapter_layers


def orthogonal_penalty(model: nn.Module) -> torch.Tensor:
    """lam-weighted sum over all adapter layers; a zero scalar when nothing is regularised.

    One batched matmul per factor shape; the identity is taken off the Gram's diagonal in place
    (exact, unlike expanding the square, which cancels catastrophically near orthonormality).
    """
    groups: dict[tuple, tuple[list[torch.Tensor], list[float]]] = defaultdict(lambda: ([], []))
    for layer in _adapter_modules(model):
        if layer.lam <= 0 or layer.merged or layer.disabled:
            continue
        for f in layer.regularized_factors(getattr(layer, "regularize", [])):
            mats, lams = groups[(tuple(f.shape[1:]), f.dtype, f.device)]
            mats.append(f)
            lams += [layer.lam] * f.shape[0]
    if not groups:
        p = next(model.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else None)
    total = None
    for (shape, dtype, dev), (mats, lams) in groups.items():
        f = torch.cat(mats) if len(mats) > 1 else mats[0]  # n x rows x R
        gram = torch.bmm(f.transpose(1, 2), f)
        gram.diagonal(dim1=1, dim2=2).sub_(1.0)  # bmm's backward needs f, not gram
        per = gram.square().sum(dim=(1, 2))
        if all(lam == lams[0] for lam in lams):  # the usual case: a Python scalar, no transfer
            term = per.sum() * lams[0]
        else:
            term = (_lam_tensor(tuple(lams), dtype, dev) * per).sum()
        total = term if total is None else total + term.to(total.dtype)
    return total


@functools.lru_cache(maxsize=64)
def _lam_tensor(lams: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Per-factor strengths on the device, made once: a host-to-device copy on every step
    would stall the launch queue behind the forward pass."""
    return torch.tensor(lams, dtype=dtype).to(device)


def _adapter_modules(model: nn.Module) -> list:
    """Adapter layers, from the list recorded at injection when there is one (walking every
    module of a large model on each training step costs more than the penalty itself)."""
    state = getattr(model, STATE_ATTR, None)
    if state is not None and state.layers is not None:
        return state.layers
    return [layer for _, layer in adapter_layers(model)]


def orthogonality_errors(model: nn.Module) -> dict[str, float]:
    """||F^T F - I||_F per regularised factor, keyed ``layer.factor_index`` (for diagnostics)."""
    out = {}
    with torch.no_grad():
        for name, layer in adapter_layers(model):
            for i, f in enumerate(layer.regularized_factors(getattr(layer, "regularize", []))):
                gram = f.transpose(1, 2) @ f - torch.eye(f.shape[-1], dtype=f.dtype, device=f.device)
                for j, v in enumerate(gram.flatten(1).norm(dim=1).tolist()):
                    out[f"{name}.{i}.{j}"] = v
    return out
