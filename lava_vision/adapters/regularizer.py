"""The column-orthogonal regulariser  sum_layers lam_l * ||F_l^T F_l - I_R||_F^2  (paper Eq. 5).

F holds a factor's R rank vectors as columns (CP conv: U and/or V and/or K_i; linear: A^T
and/or B). Its gradient is 4 lam F (F^T F - I). Factors of equal shape are stacked and handled
by one batched matmul, so the cost is a handful of kernels whatever the number of layers.
"""
from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn

from .injector import adapter_layers


def orthogonal_penalty(model: nn.Module) -> torch.Tensor:
    """lam-weighted sum over all adapter layers; a zero scalar when nothing is regularised."""
    groups: dict[tuple, list[tuple[torch.Tensor, float]]] = defaultdict(list)
    device = None
    for _, layer in adapter_layers(model):
        if layer.lam <= 0 or layer.merged or layer.disabled:
            continue
        for f in layer.regularized_factors(getattr(layer, "regularize", [])):
            groups[(tuple(f.shape[1:]), f.dtype, f.device)].append((f, layer.lam))
            device = f.device
    if not groups:
        p = next(model.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else device)
    total = None
    for (shape, dtype, dev), items in groups.items():
        f = torch.cat([t for t, _ in items])  # n x rows x R
        lam = torch.cat([torch.full((t.shape[0],), l, dtype=dtype, device=dev) for t, l in items])
        gram = f.transpose(1, 2) @ f
        gram = gram - torch.eye(shape[1], dtype=dtype, device=dev)
        term = (lam * gram.square().sum(dim=(1, 2))).sum()
        total = term if total is None else total + term.to(total.dtype)
    return total


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
