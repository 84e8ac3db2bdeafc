"""The result of ``plan``: one row per adapted layer (rank, scale, the lambda it really uses,
parameter count), saved modules and totals, printed as the table train/inject show."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PlanRow:
    name: str
    layer_type: str
    adapter: str
    rank: int
    alpha: float
    lam: float
    params: int
    shape: list[int]
    fused: tuple[int, list[int]] | None = None
    clamped_from: int | None = None  # the configured rank, when rank_policy="clamp" lowered it
    aliases: list[str] = field(default_factory=list)  # other names of the same module (weight tying)
    scale: float = 1.0  # s the layer applies: alpha / R (rsLoRA: alpha / sqrt(R))


@dataclass
class Plan:
    """What injection does: one row per adapted layer, plus totals."""

    method: str
    rows: list[PlanRow] = field(default_factory=list)
    saved_modules: list[str] = field(default_factory=list)
    adapter_params: int = 0
    saved_params: int = 0
    base_params: int = 0

    @property
    def trainable_params(self) -> int:
        if self.method == "full":
            return self.base_params
        return self.adapter_params + self.saved_params

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable_params / max(self.base_params, 1)

    def __str__(self) -> str:
        head = (f"{'layer':<56} {'type':<16} {'adapter':<13} {'rank':>4} {'scale':>7} {'lam':>7} "
                f"{'params':>10}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            rank = f"{r.clamped_from}->{r.rank}" if r.clamped_from is not None else str(r.rank)
            lines.append(f"{r.name[-56:]:<56} {r.layer_type:<16} {r.adapter:<13} {rank:>4} {r.scale:>7.4g} "
                         f"{r.lam:>7.4g} {r.params:>10,}"
                         + (f"  (also used as {', '.join(r.aliases)})" if r.aliases else ""))
        for m in self.saved_modules:
            lines.append(f"{m[-56:]:<56} {'(saved)':<16} {'full':<13} {'':>4}")
        lines.append("-" * len(head))
        lines.append(f"method={self.method}  adapted layers={len(self.rows)}  adapter params={self.adapter_params:,}  "
                     f"modules_to_save params={self.saved_params:,}")
        lines.append(f"trainable {self.trainable_params:,} of {self.base_params:,} base params "
                     f"({self.trainable_percent:.3f}%)")
        clamped = [r for r in self.rows if r.clamped_from is not None]
        if clamped:
            lines.append(f"rank_policy=clamp lowered the rank of {len(clamped)} layer(s) to the most they allow")
        return "\n".join(lines)
