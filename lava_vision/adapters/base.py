"""What every adapter layer shares: the wrapped ``base_layer`` and one ``delta_weight``.

``delta_weight()`` is the single truth for merge, unmerge, export and analysis: every adapter
returns its update in the base weight's own layout and the rest of the library never needs to
know how the update is parameterised.
"""
from __future__ import annotations

import abc
import math

import torch
from torch import nn


class AdapterLayer(nn.Module, abc.ABC):
    """Wraps ``base_layer`` (frozen) and adds a low-rank update.

    Subclasses define ``factor_names`` (parameter name -> factor kind: U, V, K, A or B),
    ``delta_weight()`` and ``adapter_forward(x, *args)``; ``regularized_factors()`` returns the
    factors the orthogonal penalty acts on as a ``n_batch x rows x R`` tensor.
    """

    factor_names: dict[str, str]

    def __init__(self, base_layer: nn.Module, rank: int, alpha: float, scale: float, lam: float,
                 method: str):
        super().__init__()
        self.base_layer = base_layer
        self.rank = rank
        self.alpha = alpha
        self.scale = scale
        self.lam = lam
        self.method = method
        self.merged = False
        self.disabled = False
        for p in base_layer.parameters():
            p.requires_grad_(False)

    # -- the update --------------------------------------------------------------------------
    @abc.abstractmethod
    def delta_weight(self) -> torch.Tensor:
        """The update in the base weight's layout."""

    @abc.abstractmethod
    def adapter_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """Output of the adapted layer (base + update) for an unmerged, enabled adapter."""

    def penalty_factors(self, kinds: list[str]) -> list[tuple[torch.Tensor, bool, int]]:
        """The parameters of the given factor kinds as stored: ``(tensor, rank_in_rows, n_blocks)``.

        ``rank_in_rows=False``: the tensor is ``n*rows x R`` (rank vectors are columns, e.g. U);
        ``True``: it is ``n*R x cols`` (rank vectors are rows, e.g. LoRA's A, whose columns-as-
        rank-vectors matrix F is A^T). Handing the raw parameters over lets the regulariser skip
        one autograd view per layer and step.
        """
        return []

    def regularized_factors(self, kinds: list[str]) -> list[torch.Tensor]:
        """Factors of the given kinds as ``n x rows x R`` stacks (R rank vectors as columns)."""
        return [t.view(n, self.rank, -1).transpose(1, 2) if in_rows else t.view(n, -1, self.rank)
                for t, in_rows, n in self.penalty_factors(kinds)]

    def num_adapter_params(self) -> int:
        return sum(getattr(self, n).numel() for n in self.factor_names)

    # -- forward -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if self.merged or self.disabled:
            return self.base_layer(x, *args, **kwargs)
        return self.adapter_forward(x, *args, **kwargs)

    # -- merge -------------------------------------------------------------------------------
    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into ``base_layer.weight`` (in place)."""
        if not self.merged:
            w = self.base_layer.weight
            w.add_(self.delta_weight().to(w.dtype))
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            w = self.base_layer.weight
            w.sub_(self.delta_weight().to(w.dtype))
            self.merged = False

    def extra_repr(self) -> str:
        return f"method={self.method}, rank={self.rank}, scale={self.scale:g}, lam={self.lam:g}"


def orthonormal_(t: torch.Tensor) -> torch.Tensor:
    """Fill a 2-D ``rows x R`` tensor with orthonormal columns (or rows when R > rows)."""
    with torch.no_grad():
        tmp = torch.empty(t.shape, dtype=torch.float64)
        nn.init.orthogonal_(tmp)
        t.copy_(tmp.to(t.dtype))
    return t


def unit_columns_(t: torch.Tensor) -> torch.Tensor:
    """Fill ``rows x R`` with random Gaussian columns of unit norm."""
    with torch.no_grad():
        tmp = torch.randn(t.shape, dtype=torch.float64)
        tmp /= tmp.norm(dim=0, keepdim=True).clamp_min(1e-12)
        t.copy_(tmp.to(t.dtype))
    return t


INIT_SCHEMES = ("orthonormal", "unit", "normal", "kaiming_uniform")


def init_factor_(t: torch.Tensor, scheme: str, rank_in_rows: bool = False, blocks: int = 1) -> torch.Tensor:
    """Initialise one factor in place; the rank vectors are its columns (``rows x R``), or its rows
    when ``rank_in_rows`` (LoRA's A, ``R x cols``); ``blocks`` stacked blocks (fused slices) are
    initialised independently.

    zero: all zeros. orthonormal: orthonormal rank vectors, or unit-norm ones where there are
    more rank vectors than their length (R > rows) and orthonormality is impossible. unit:
    Gaussian rank vectors scaled to unit norm. normal: entries N(0, 1/rows), i.e. rank vectors
    of expected unit norm. kaiming_uniform: ``nn.init.kaiming_uniform_(t, a=sqrt(5))`` on the
    tensor as stored, PEFT's default for LoRA's A (entries U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
    """
    if scheme == "zero":
        return nn.init.zeros_(t)
    if scheme == "kaiming_uniform":
        return nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; expected zero or one of {INIT_SCHEMES}")
    size = t.shape[0] // blocks
    for j in range(blocks):
        block = t.data[j * size:(j + 1) * size]
        f = block.T if rank_in_rows else block  # rows x R view
        if scheme == "orthonormal" and f.shape[0] >= f.shape[1]:
            orthonormal_(f)
        elif scheme == "normal":
            with torch.no_grad():
                f.copy_(torch.randn(f.shape, dtype=torch.float64).div_(math.sqrt(f.shape[0])).to(f.dtype))
        else:
            unit_columns_(f)
    return t
