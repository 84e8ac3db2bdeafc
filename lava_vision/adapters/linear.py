"""LoRA-form update on ``nn.Linear`` (paper Eq. 4): dW = s * B A, A applied to x first.

A is ``R x in``, B ``out x R``; one of them starts at zero so dW = 0 at step 0 (``reset_factors``;
by default B = 0 and A has orthonormal rows, so the penalty on A^T is 0 too). A fused projection
(one Linear producing q, k, v) can adapt only some of its equal output chunks, each with its own rank-R pair: then A is
``n_sel*R x in`` and B ``n_sel*chunk x R``, slice j using rows j of each.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import AdapterLayer, init_factor_


class LoRALinear(AdapterLayer):
    """LoRA-form adapter; with ``lam > 0`` and the A factor regularised it is LAVA's linear."""

    def __init__(self, base_layer: nn.Linear, rank: int, alpha: float, scale: float, lam: float,
                 regularize: list[str], fused: tuple[int, list[int]] | None = None,
                 dropout: float = 0.0, method: str = "lava", init_zero: str = "B",
                 init: str = "orthonormal"):
        super().__init__(base_layer, rank, alpha, scale, lam, method)
        out_f, in_f = base_layer.weight.shape
        n_chunks, selected = fused if fused else (1, [0])
        if out_f % n_chunks:
            raise ValueError(f"output size {out_f} does not split into {n_chunks} equal chunks")
        self.chunk = out_f // n_chunks
        self.selected = list(selected)
        self.n_chunks = n_chunks
        kw = dict(device=base_layer.weight.device, dtype=base_layer.weight.dtype)
        n = len(self.selected)
        self.A = nn.Parameter(torch.empty(n * rank, in_f, **kw))
        self.B = nn.Parameter(torch.empty(n * self.chunk, rank, **kw))
        self.init_zero, self.init = init_zero, init
        self.reset_factors()
        self.regularize = list(regularize)
        self.factor_names = {"A": "A", "B": "B"}
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if n < n_chunks:
            idx = torch.cat([torch.arange(s * self.chunk, (s + 1) * self.chunk) for s in self.selected])
            self.register_buffer("out_index", idx.to(base_layer.weight.device), persistent=False)
        else:
            self.out_index = None

    def reset_factors(self) -> None:
        """``init_zero`` (A or B) starts at zero so dW = 0; the other gets the ``init`` scheme
        (``base.init_factor_``), each fused slice on its own. Independent of lam."""
        if self.init_zero not in ("A", "B"):
            raise ValueError(f"init_zero={self.init_zero!r}: expected A or B")
        n = len(self.selected)
        for name, in_rows in (("A", True), ("B", False)):
            init_factor_(getattr(self, name), "zero" if name == self.init_zero else self.init, in_rows, n)

    def _blocks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A as ``n x R x in`` and B as ``n x chunk x R``."""
        n = len(self.selected)
        return self.A.reshape(n, self.rank, -1), self.B.reshape(n, self.chunk, self.rank)

    def delta_weight(self) -> torch.Tensor:
        a, b = self._blocks()
        delta = torch.bmm(b, a).reshape(-1, a.shape[-1]) * self.scale  # n*chunk x in
        if self.out_index is None:
            return delta
        full = delta.new_zeros(self.base_layer.weight.shape)
        return full.index_copy(0, self.out_index, delta)

    def penalty_factors(self, kinds: list[str]) -> list[tuple[torch.Tensor, bool, int]]:
        n = len(self.selected)  # A: n*R x in (rank vectors are rows); B: n*chunk x R
        return [(getattr(self, k), k == "A", n) for k in ("A", "B") if k in kinds]

    def _update(self, x: torch.Tensor) -> torch.Tensor:
        """s * B A x for the adapted chunks only: ``... x n_sel*chunk``."""
        h = F.linear(self.dropout(x), self.A)  # ... x n*R
        if len(self.selected) == 1:
            upd = F.linear(h, self.B)
        else:
            _, b = self._blocks()
            h = h.unflatten(-1, (len(self.selected), self.rank))
            upd = torch.einsum("...nr,ncr->...nc", h, b).flatten(-2)
        if self.scale != 1.0:  # alpha = rank (the default) makes s = 1: skip a kernel and its backward
            upd = upd * self.scale
        return upd

    def adapter_forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        upd = self._update(x)
        if self.out_index is None:
            return y + upd
        return y.index_add(-1, self.out_index, upd)

    def update_forward(self, x: torch.Tensor) -> torch.Tensor:
        upd = self._update(x)
        if self.out_index is None:
            return upd
        return upd.new_zeros(*upd.shape[:-1], self.base_layer.weight.shape[0]).index_add(-1, self.out_index, upd)
