"""The one adapter configuration: which method, which layers, how big, how regularised."""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

METHODS = ("lava", "lora", "full", "frozen")
CONV_PATHS = ("auto", "kernel", "factored", "two_conv")
SCALINGS = ("standard", "rslora")
RANK_POLICIES = ("error", "clamp")
CONV_FACTORS = ("U", "V", "K")
LINEAR_FACTORS = ("A", "B")
CP_INITS = ("orthonormal", "unit", "normal")
LORA_INITS = ("orthonormal", "unit", "normal", "kaiming_uniform")
DEFAULT_SCALE = 2.0  # alpha=None means alpha = DEFAULT_SCALE * R: s = 2 at every rank (docs/studies-real-network.md)


class AdapterConfigError(ValueError):
    """A configuration value that cannot work, named with the field at fault."""


@dataclass
class AdapterConfig:
    """How to adapt a model.

    method: ``lava`` (CP conv + orthogonal LoRA-form linear), ``lora`` (PEFT-style LoRA that
        flattens conv kernels to c_out x rest, no regulariser), ``full`` (train every weight) or
        ``frozen`` (train only ``modules_to_save``).
    rank / alpha: R and the scale numerator; s = alpha / R, or alpha / sqrt(R) with
        ``scaling="rslora"``. ``alpha=None`` (default) means alpha = 2 x each layer's R, so s = 2 at
        any rank and changing only the rank does not change the scale; rsLoRA needs an explicit alpha.
    lam: strength of the column-orthogonal regulariser lam * ||F^T F - I||_F^2 (``lava`` only);
        default 0 (off): on a real network it never helped (docs/studies-real-network.md). The
        paper's 0.1 on U comes with its init: ``AdapterConfig.paper()``.
    targets / excludes: patterns on qualified module names. A pattern is a glob (``*.attn.qkv``),
        a regex (``re:blocks\\.[0-3]\\..*``) or a layer type (``type:Conv2d``). Excludes win over
        targets. Every pattern must reach at least one adaptable layer, or injection is refused.
        Layers of types without an adapter (norms, embeddings) are skipped when a pattern also
        reaches supported layers, and are an error when they are all a pattern reaches.
    preset: a named target set for a model family (see ``presets.PRESETS``); its patterns are
        added to ``targets`` / ``excludes`` / ``fused``.
    rank_policy: what a rank larger than a layer allows does (see ``injector._max_rank``): ``error``
        (refuse, naming the layer) or ``clamp`` (use the layer's largest rank; the plan table marks
        each clamped layer ``8->3``).
    overrides: pattern -> {"rank", "alpha", "lam"}. When several patterns match one layer, the
        later entry wins field by field (dict order is the order written in the recipe).
    modules_to_save: patterns of modules trained in full and saved with the adapter (a new head).
    fused: pattern -> ``"qkv->qv"``: the layer's output is that many equal chunks, named by the
        letters before ``->``; only the chunks named after it are adapted, each with its own
        rank-R pair.
    conv_path: ``kernel`` (add dW to W, one conv), ``factored`` (1x1 -> per-rank depthwise ->
        1x1), ``two_conv`` (rank-R conv with kernel V o K -> 1x1 U) or ``auto`` (chosen per
        layer and device type, see ``conv_cp.choose_path``). Flattening LoRA has kernel and
        two-conv paths only (``factored`` and ``two_conv`` both mean its two-conv path).
    regularize_conv / regularize_linear: which factors the regulariser acts on. Paper defaults:
        U (output channels) for convs, A (input side) for linears.
    factor_lr: factor name (U, V, K, A, B) -> learning-rate multiplier (LoRA+-style).
    dropout: dropout on the adapter branch input of linear layers.
    init_cp_zero / init_cp: the CP conv factor that starts at zero (U, V or K; K means K1, the
        first kernel mode), so dW = 0 at step 0, and the scheme of the other factors:
        ``orthonormal`` (orthonormal rank vectors; unit-norm ones where R exceeds the mode size),
        ``unit`` (Gaussian rank vectors of unit norm) or ``normal`` (entries N(0, 1/mode size)).
    init_lora_zero / init_lora: the same for the A / B factors of LoRA-form linears (both
        methods) and of method ``lora``'s flattened convs; ``kaiming_uniform`` is PEFT's default
        for A (U(+-1/sqrt(fan_in))). ``init_lora=None``: ``orthonormal`` for method ``lava``,
        ``kaiming_uniform`` (PEFT's) for method ``lora``. None of these depend on ``lam``.
        Defaults (U = 0, the others ``normal``, lam = 0, s = 2) were decided on a real pretrained
        CIFAR ResNet with real photos (docs/studies-real-network.md); the paper's setting (V = 0,
        orthonormal, lam = 0.1 on U, s = 1) is ``AdapterConfig.paper()``.
    """

    method: str = "lava"
    rank: int = 8
    alpha: float | None = None
    lam: float = 0.0
    scaling: str = "standard"
    targets: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    preset: str | None = None
    overrides: dict[str, dict[str, int | float]] = field(default_factory=dict)
    modules_to_save: list[str] = field(default_factory=list)
    fused: dict[str, str] = field(default_factory=dict)
    conv_path: str = "auto"
    regularize_conv: list[str] = field(default_factory=lambda: ["U"])
    regularize_linear: list[str] = field(default_factory=lambda: ["A"])
    factor_lr: dict[str, float] = field(default_factory=dict)
    dropout: float = 0.0
    rank_policy: str = "error"
    init_cp_zero: str = "U"
    init_cp: str = "normal"
    init_lora_zero: str = "B"
    init_lora: str | None = None

    @classmethod
    def paper(cls, **fields) -> AdapterConfig:
        """The paper's setting: V = 0 with orthonormal U and K, the regulariser lam = 0.1 on U (A for
        linears), and no scale (s = 1: alpha = R, also for each ``overrides`` entry that sets a
        rank); ``fields`` set anything else (``rank``, ``preset`` ...) and may override these too."""
        rank = fields.get("rank", cls.rank)
        overrides = {p: ({"alpha": float(v["rank"]), **v} if isinstance(v, dict) and "rank" in v else v)
                     for p, v in fields.pop("overrides", {}).items()}
        paper = dict(init_cp_zero="V", init_cp="orthonormal", lam=0.1, alpha=float(as_rank(rank)))
        return cls(**{**paper, "overrides": overrides, **fields})

    def validate(self) -> AdapterConfig:
        """Raise AdapterConfigError naming the first bad field; return self."""
        if self.method not in METHODS:
            raise AdapterConfigError(f"adapter.method={self.method!r}: expected one of {METHODS}")
        # ranks written as 4.0 (a command line, JSON) or numpy integers are the integer they equal
        self.rank = as_rank(self.rank)
        self.overrides = {p: ({**v, "rank": as_rank(v["rank"])}
                              if isinstance(v, dict) and "rank" in v else v) for p, v in self.overrides.items()}
        if self.rank_policy not in RANK_POLICIES:
            raise AdapterConfigError(f"adapter.rank_policy={self.rank_policy!r}: expected one of {RANK_POLICIES}")
        if self.method in ("lava", "lora"):
            _check_rank_alpha_lam("adapter", self.rank, self.alpha, self.lam)
        if self.scaling not in SCALINGS:
            raise AdapterConfigError(f"adapter.scaling={self.scaling!r}: expected one of {SCALINGS}")
        if self.scaling == "rslora" and self.alpha is None:
            raise AdapterConfigError(f"adapter.alpha=None (alpha = {DEFAULT_SCALE:g} R) with adapter.scaling='rslora' "
                                     f"would make s = {DEFAULT_SCALE:g} sqrt(R); set adapter.alpha explicitly")
        if self.conv_path not in CONV_PATHS:
            raise AdapterConfigError(f"adapter.conv_path={self.conv_path!r}: expected one of {CONV_PATHS}")
        for name in self.regularize_conv:
            if name not in CONV_FACTORS:
                raise AdapterConfigError(f"adapter.regularize_conv: {name!r} is not one of {CONV_FACTORS}")
        for name in self.regularize_linear:
            if name not in LINEAR_FACTORS:
                raise AdapterConfigError(f"adapter.regularize_linear: {name!r} is not one of {LINEAR_FACTORS}")
        for name, mult in self.factor_lr.items():
            if name not in CONV_FACTORS + LINEAR_FACTORS:
                raise AdapterConfigError(f"adapter.factor_lr: unknown factor {name!r}; expected one of "
                                         f"{CONV_FACTORS + LINEAR_FACTORS}")
            if not (mult > 0 and math.isfinite(mult)):
                raise AdapterConfigError(f"adapter.factor_lr[{name!r}]={mult}: must be a positive number")
        for pattern, values in self.overrides.items():
            unknown = set(values) - {"rank", "alpha", "lam"}
            if unknown:
                raise AdapterConfigError(f"adapter.overrides[{pattern!r}]: unknown keys {sorted(unknown)}; "
                                         "allowed: rank, alpha, lam")
            _check_rank_alpha_lam(f"adapter.overrides[{pattern!r}]", values.get("rank", self.rank),
                                  values.get("alpha", self.alpha), values.get("lam", self.lam))
        for pattern, spec in self.fused.items():
            parse_fused(spec, where=f"adapter.fused[{pattern!r}]")
        for key, value, allowed in (("init_cp_zero", self.init_cp_zero, CONV_FACTORS),
                                    ("init_cp", self.init_cp, CP_INITS),
                                    ("init_lora_zero", self.init_lora_zero, LINEAR_FACTORS),
                                    ("init_lora", self.lora_init_scheme(), LORA_INITS)):
            if value not in allowed:
                raise AdapterConfigError(f"adapter.{key}={value!r}: expected one of {allowed}")
        if not 0.0 <= self.dropout < 1.0:
            raise AdapterConfigError(f"adapter.dropout={self.dropout}: must be in [0, 1)")
        return self

    def lora_init_scheme(self) -> str:
        """``init_lora``, or the method's default when it is None (lava: orthonormal A; lora:
        PEFT's kaiming_uniform A)."""
        if self.init_lora is not None:
            return self.init_lora
        return "kaiming_uniform" if self.method == "lora" else "orthonormal"

    def scale(self, rank: int, alpha: float) -> float:
        """s = alpha / R, or alpha / sqrt(R) for rsLoRA."""
        return alpha / math.sqrt(rank) if self.scaling == "rslora" else alpha / rank

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AdapterConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise AdapterConfigError(f"adapter config: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data).validate()


def as_rank(value: object) -> object:
    """``value`` as a Python int when it is an integral number (``4``, ``4.0``, ``np.int64(4)``);
    anything else is returned unchanged for ``_check_rank_alpha_lam`` to refuse (``1.5``, ``True``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return value


def _check_rank_alpha_lam(where: str, rank, alpha, lam) -> None:
    if not isinstance(rank, int) or isinstance(rank, bool) or rank <= 0:
        raise AdapterConfigError(f"{where}.rank={rank!r}: must be a positive integer")
    if alpha is not None and not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise AdapterConfigError(f"{where}.alpha={alpha!r}: must be a positive number")
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
        raise AdapterConfigError(f"{where}.lam={lam!r}: must be a finite number >= 0")


def parse_fused(spec: str, where: str = "fused") -> tuple[int, list[int]]:
    """``"qkv->qv"`` -> (3 chunks, selected chunk indices [0, 2])."""
    if not isinstance(spec, str) or spec.count("->") != 1:
        raise AdapterConfigError(f"{where}={spec!r}: expected the form 'qkv->qv'")
    names, chosen = spec.split("->")
    if not names or len(set(names)) != len(names):
        raise AdapterConfigError(f"{where}={spec!r}: chunk names before '->' must be distinct letters")
    if not chosen or any(c not in names for c in chosen) or len(set(chosen)) != len(chosen):
        raise AdapterConfigError(f"{where}={spec!r}: selected chunks must be distinct letters from {names!r}")
    return len(names), sorted(names.index(c) for c in chosen)
