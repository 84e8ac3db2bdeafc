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

from .injector import adapter_layers
from .state import named_adapters


def orthogonal_penalty(model: nn.Module) -> torch.Tensor:
    """lam-weighted sum over the active adapters' layers; a zero scalar when nothing is regularised.
    Each active adapter of a mix is penalised with its own lam, whatever its mix weight.

    Factors of one shape and layout are handled together by one autograd node
    (``_GroupPenalty``): a batched Gram, minus a cached identity (exact, unlike expanding the
    square), and in backward the closed-form gradient 4 lam F (F^T F - I) split back into the
    parameters as views. That keeps the per-layer autograd work to the gradient accumulation
    itself, which matters because the penalty is launch-bound on a GPU.
    """
    groups: dict[tuple, tuple[list[torch.Tensor], list[int], list[float]]] = defaultdict(lambda: ([], [], []))
    for layer in _adapter_modules(model):
        if layer.lam <= 0 or not layer.contributes:  # inactive (named adapters), merged or disabled
            continue
        for t, in_rows, n in layer.penalty_factors(getattr(layer, "regularize", [])):
            block = (layer.rank, t.shape[1]) if in_rows else (t.shape[0] // n, layer.rank)
            tensors, blocks, lams = groups[(block, in_rows, t.dtype, t.device)]
            tensors.append(t)
            blocks.append(n)
            lams += [layer.lam] * n
    if not groups:
        p = next(model.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else None)
    total = None
    for (block, in_rows, dtype, dev), (tensors, blocks, lams) in groups.items():
        lam = lams[0] if all(v == lams[0] for v in lams) else _lam_tensor(tuple(lams), dtype, dev)
        term = _GroupPenalty.apply(block, in_rows, blocks, lam, *tensors)
        total = term if total is None else total + (term if term.dtype == total.dtype else term.to(total.dtype))
    return total


class _GroupPenalty(torch.autograd.Function):
    """sum_i lam_i ||F_i^T F_i - I||_F^2 over the blocks of several same-shaped factors.

    ``in_rows``: each block is ``R x cols`` (F = block^T, LoRA's A); else ``rows x R`` (F = block).
    """

    @staticmethod
    def forward(ctx, block: tuple[int, int], in_rows: bool, blocks: list[int], lam, *tensors):
        # the factors are 2-D (n*rows x R, or n*R x cols): stack them along rows, one view to blocks
        f = torch.cat(tensors).view(-1, *block)  # N x block
        gram = (f @ f.transpose(1, 2) if in_rows else f.transpose(1, 2) @ f) - _eye(block[0] if in_rows else block[1],
                                                                                      f.dtype, f.device)
        per = gram.square().sum(dim=(1, 2))
        # the parameters themselves are saved, not the stacked copy f: backward re-stacks them, so
        # the penalty keeps no extra copy of every regularised factor alive until backward
        ctx.save_for_backward(gram, lam if torch.is_tensor(lam) else None, *tensors)
        ctx.meta = (in_rows, block, lam if not torch.is_tensor(lam) else None, [t.shape[0] for t in tensors])
        return (per * lam).sum() if torch.is_tensor(lam) else per.sum() * lam

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        gram, lam_t, *tensors = ctx.saved_tensors
        in_rows, block, lam, rows = ctx.meta
        f = torch.cat(tensors).view(-1, *block)
        # d/dF lam ||F^T F - I||^2 = 4 lam F (F^T F - I); for F = A^T that is 4 lam (A A^T - I) A
        g = gram @ f if in_rows else f @ gram
        g = g * (4 * grad_out) * (lam_t.view(-1, 1, 1) if lam_t is not None else lam)
        return (None, None, None, None, *g.view(-1, g.shape[-1]).split(rows))


def _eye(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if torch.compiler.is_compiling():  # a constant in the graph; a cache lookup would not trace
        return torch.eye(n, dtype=dtype, device=device)
    return _cached_eye(n, dtype, device)


@functools.lru_cache(maxsize=64)
def _cached_eye(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.eye(n, dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def _lam_tensor(lams: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Per-factor strengths on the device, made once: a host-to-device copy on every step
    would stall the launch queue behind the forward pass."""
    return torch.tensor(lams, dtype=dtype).to(device)


def _adapter_modules(model: nn.Module) -> list:
    """Adapter layers, from the lists recorded at injection when there are (walking every module
    of a large model on each training step costs more than the penalty itself); inactive
    adapters' layers are skipped by the caller."""
    reg = named_adapters(model)
    if reg is not None and all(s.layers is not None for s in reg.states.values()):
        return [layer for s in reg.states.values() for layer in s.layers]
    return [layer for _, layer in adapter_layers(model)]


def orthogonality_sq_error(factors: list[torch.Tensor], dtype: torch.dtype = torch.float64) -> float:
    """sum over ``factors`` (each ``n x rows x R``, R rank vectors as columns) and their blocks of
    ||F^T F - I_R||_F^2, computed in ``dtype`` without autograd; the one measurement diagnostics
    and spectra report (training uses ``orthogonal_penalty``'s fused path)."""
    total = 0.0
    with torch.no_grad():
        for f in factors:
            f = f.detach().to(dtype)
            gram = f.transpose(1, 2) @ f
            gram.diagonal(dim1=1, dim2=2).sub_(1.0)
            total += float(gram.square().sum())
    return total
