"""What an adapter learned: singular-value spectra of each layer's update dW, in float64.

Per adapted layer the update comes from ``layer.delta_weight()`` (the library's single truth, in
the base weight's layout) and is viewed as matrices:

* linear layers: dW itself (``out x in``), view ``matrix``;
* convolutions (``c_out x c_in/g x k_1 x ... x k_d``; transposed convs store ``c_in x c_out/g x k...``):
  view ``flat``, the ``mode0 x rest`` matrix LoRA trains (paper section 3), and one view per mode
  unfolding ``modeI:<name>`` (the tensor with mode I moved first, ``dim_I x rest``). For an ordinary
  conv ``flat`` and ``mode0:out`` are the same matrix. A rank-R CP update has every unfolding of
  rank <= R.

Numbers per view (``s`` = singular values, descending):

* ``rank_tol``: count of ``s > tol`` with ``tol = s.max() * max(M, N) * eps(float64)``, the rule of
  ``numpy.linalg.matrix_rank``;
* ``rank_energy``: the fewest leading values holding ``energy`` (default 0.99) of ``sum(s**2)``;
* ``cond``: ``s[0] / s[rank_tol - 1]``, the condition number of dW on its numerical range (a
  low-rank matrix has an infinite one on the whole space);
* ``rel_update``: ``||dW||_F / ||W||_F``;
* ``orth_error``: ``sqrt(sum_F ||F^T F - I||_F^2)`` over the layer's regularised factors F (rank
  vectors as columns, the quantity paper Eq. 5 penalises). An unregularised layer (LoRA, lam = 0)
  reports the factor LAVA would regularise (``A`` for matrices, ``U`` for CP convs), so runs of
  both methods line up.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..adapters import adapter_layers
from ..adapters.base import AdapterLayer
from ..adapters.regularizer import orthogonality_sq_error

EPS = float(np.finfo(np.float64).eps)
DEFAULT_ENERGY = 0.99


@dataclass
class Spectrum:
    """One matrix view of one layer's update and its numbers (see the module docstring)."""

    layer: str
    block: str
    adapter: str  # adapter class: CPConv, LoRALinear, FlatLoRAConv
    rank: int  # the adapter's R
    view: str  # matrix | flat | modeI:<name>
    shape: tuple[int, int]
    singular_values: np.ndarray = field(repr=False)  # float64, descending, min(shape) values
    tol: float
    rank_tol: int
    rank_energy: int
    cond: float
    delta_norm: float
    rel_update: float
    orth_error: float  # nan when the layer has no factor to measure
    orth_factors: str

    def row(self) -> dict[str, object]:
        """The CSV row: everything but the singular values themselves."""
        return {"layer": self.layer, "block": self.block, "adapter": self.adapter, "rank": self.rank,
                "view": self.view, "shape": f"{self.shape[0]}x{self.shape[1]}",
                "sigma_max": float(self.singular_values[0]) if self.singular_values.size else 0.0,
                "tol": self.tol, "rank_tol": self.rank_tol, "rank_energy": self.rank_energy, "cond": self.cond,
                "delta_norm": self.delta_norm, "rel_update": self.rel_update, "orth_error": self.orth_error,
                "orth_factors": self.orth_factors}


def numerical_rank(s: np.ndarray, shape: tuple[int, int]) -> tuple[int, float]:
    """``(rank, tol)`` with numpy's default rule ``tol = s.max() * max(M, N) * eps``."""
    if s.size == 0:
        return 0, 0.0
    tol = float(s.max()) * max(shape) * EPS
    return int((s > tol).sum()), tol


def energy_rank(s: np.ndarray, energy: float = DEFAULT_ENERGY) -> int:
    """The fewest leading singular values whose squares hold ``energy`` of the total (0 for dW = 0)."""
    if not 0.0 < energy <= 1.0:
        raise ValueError(f"energy={energy}: must be in (0, 1]")
    sq = np.square(s)
    total = sq.sum()
    if total == 0.0:
        return 0
    # a relative slack of a few eps keeps energy = 1.0 from failing on rounding of the cumulative sum
    return int(np.searchsorted(np.cumsum(sq), energy * total * (1.0 - 4 * EPS)) + 1)


def unfold(t: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-``mode`` unfolding: ``dim_mode x (product of the other dims)``."""
    return t.movedim(mode, 0).reshape(t.shape[mode], -1)


def block_of(name: str) -> str:
    """The block a layer belongs to, for grouping plots: the name up to its first numeric part
    (``layer1.0.conv1`` -> ``layer1.0``, ``blocks.3.attn.qkv`` -> ``blocks.3``), else its parent
    module (``head.conv3`` -> ``head``), else ``top`` for a top-level layer."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return ".".join(parts[:-1]) or "top"


def matrix_views(delta: torch.Tensor, transposed: bool = False) -> list[tuple[str, torch.Tensor]]:
    """The matrices to analyse for an update of the base weight's layout (see module docstring)."""
    if delta.dim() == 2:
        return [("matrix", delta)]
    channel = ("in", "out") if transposed else ("out", "in")
    names = [*channel, *(f"k{i + 1}" for i in range(delta.dim() - 2))]
    return [("flat", delta.reshape(delta.shape[0], -1))] + [
        (f"mode{i}:{n}", unfold(delta, i)) for i, n in enumerate(names)]


def _measured_factors(layer: AdapterLayer) -> tuple[list[torch.Tensor], str]:
    kinds = list(getattr(layer, "regularize", []))
    if not kinds:  # what LAVA would regularise: U for CP convs, A for matrices
        kinds = ["U"] if "U" in layer.factor_names.values() else ["A"]
    return layer.regularized_factors(kinds), ",".join(kinds)


def orthogonality_error(layer: AdapterLayer) -> tuple[float, str]:
    """``(sqrt(sum_F ||F^T F - I||_F^2), factor kinds)`` over the layer's measured factors, in float64."""
    factors, kinds = _measured_factors(layer)
    if not factors:
        return math.nan, ""
    return math.sqrt(orthogonality_sq_error(factors, torch.float64)), kinds


def layer_spectra(name: str, layer: AdapterLayer, energy: float = DEFAULT_ENERGY) -> list[Spectrum]:
    """Every view of one adapter layer's update, computed in float64.

    The layer is cast to float64 for the computation and back afterwards (exact for float32,
    bf16 and fp16), so a rank-R update has exactly R non-negligible singular values.
    """
    dtype = layer.base_layer.weight.dtype
    try:
        with torch.no_grad():
            layer.to(torch.float64)
            delta = layer.delta_weight().detach().cpu()
            base = layer.base_layer.weight.detach().cpu()
            orth, kinds = orthogonality_error(layer)
    finally:
        layer.to(dtype)
    delta_norm = float(delta.norm())
    base_norm = float(base.norm())
    rel = delta_norm / base_norm if base_norm > 0 else math.inf
    out = []
    for view, m in matrix_views(delta, bool(getattr(layer, "transposed", False))):
        s = torch.linalg.svdvals(m).numpy()
        shape = (int(m.shape[0]), int(m.shape[1]))
        rank, tol = numerical_rank(s, shape)
        cond = float(s[0] / s[rank - 1]) if rank > 0 else math.nan
        out.append(Spectrum(name, block_of(name), type(layer).__name__, layer.rank, view, shape, s, tol, rank,
                            energy_rank(s, energy), cond, delta_norm, rel, orth, kinds))
    return out


def model_spectra(model: nn.Module, energy: float = DEFAULT_ENERGY, layers: str | None = None) -> list[Spectrum]:
    """Spectra of every adapter layer of ``model`` (those whose name matches the regex ``layers``)."""
    pattern = re.compile(layers) if layers else None
    found = [(n, m) for n, m in adapter_layers(model) if pattern is None or pattern.search(n)]
    if not found:
        what = f" matching {layers!r}" if layers else ""
        raise ValueError(f"{type(model).__name__} has no adapter layers{what} to analyse "
                         "(method full/frozen trains no low-rank update)")
    return [s for n, m in found for s in layer_spectra(n, m, energy)]
