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

DEFAULT_NAME = "default"  # the name of an adapter injected or loaded without one

class AdapterLayer(nn.Module, abc.ABC):
    """Wraps ``base_layer`` (frozen) and adds a low-rank update.

    Subclasses define ``factor_names`` (parameter name -> factor kind: U, V, K, A or B),
    ``delta_weight()``, ``update_forward(x, *args)`` (the update's output alone, dW applied to x
    without the bias) and may override ``adapter_forward`` (base + update) with a fused path;
    ``regularized_factors()`` returns the factors the orthogonal penalty acts on as a
    ``n_batch x rows x R`` tensor.

    Named adapters (``adapters.named``): ``adapter_name`` names the adapter this layer belongs to;
    ``mix_weight`` is its weight in the active mix, or None while the adapter is inactive (the
    layer then passes the base output through). A single adapter has weight 1.0: forward is
    ``adapter_forward`` exactly as without names.
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
        self.adapter_name = DEFAULT_NAME
        self.mix_weight: float | None = 1.0
        self.merged_weight = 1.0  # the mix weight folded in by merge(), taken out again by unmerge()
        for p in base_layer.parameters():
            p.requires_grad_(False)

    # -- the update --------------------------------------------------------------------------
    @abc.abstractmethod
    def delta_weight(self) -> torch.Tensor:
        """The update in the base weight's layout."""

    @abc.abstractmethod
    def update_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """The update's contribution alone: the layer applied to x with weight dW and no bias."""

    def adapter_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """Output of the adapted layer (base + update) for an unmerged, enabled adapter."""
        return self.base_layer(x, *args, **kwargs) + self.update_forward(x, *args, **kwargs)

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
    @property
    def contributes(self) -> bool:
        """Whether forward adds this layer's update (active, enabled and not folded into the base)."""
        return self.mix_weight is not None and not self.merged and not self.disabled

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        # mixed_forward for one layer, spelled out: this runs per layer and step
        w = self.mix_weight
        if self.merged or self.disabled or w is None:
            return self.base_layer(x, *args, **kwargs)
        if w == 1.0:
            return self.adapter_forward(x, *args, **kwargs)
        return self.base_layer(x, *args, **kwargs) + self.update_forward(x, *args, **kwargs) * w

    # -- merge -------------------------------------------------------------------------------
    def _weighted_delta(self, weight: float) -> torch.Tensor:
        d = self.delta_weight()
        return d if weight == 1.0 else d * weight  # weight 1 keeps a single adapter's merge bit-exact

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ``mix_weight * dW`` into ``base_layer.weight`` (in place); an inactive layer stays as is."""
        if not self.merged and self.mix_weight is not None:
            w = self.base_layer.weight
            w.add_(self._weighted_delta(self.mix_weight).to(w.dtype))
            self.merged, self.merged_weight = True, self.mix_weight

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            w = self.base_layer.weight
            w.sub_(self._weighted_delta(self.merged_weight).to(w.dtype))
            self.merged = False

    def extra_repr(self) -> str:
        return f"method={self.method}, rank={self.rank}, scale={self.scale:g}, lam={self.lam:g}"


def mixed_forward(base: nn.Module, layers, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``base(x) + sum_i w_i * update_i(x)`` over the ``layers`` that contribute; one layer of
    weight 1 takes its own ``adapter_forward`` (a fused path, exactly the single-adapter forward)."""
    live = [layer for layer in layers if layer.contributes]
    if not live:
        return base(x, *args, **kwargs)
    if len(live) == 1 and live[0].mix_weight == 1.0:
        return live[0].adapter_forward(x, *args, **kwargs)
    y = base(x, *args, **kwargs)
    for layer in live:
        u = layer.update_forward(x, *args, **kwargs)
        y = y + (u if layer.mix_weight == 1.0 else u * layer.mix_weight)
    return y


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
