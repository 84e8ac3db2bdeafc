"""plan -> inject -> merge / unmerge / unload, driven by one AdapterConfig and the registry.

``plan`` is a dry run that resolves every pattern and reports what ``inject`` will do, with the
same parameter counts. ``inject`` replaces each matched layer by its adapter (the original
stays as ``.base_layer``), freezes everything else except ``modules_to_save``, and records the
config and a fingerprint of the base on the model for ``save_adapter``.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

from .base import AdapterLayer
from .config import AdapterConfig, AdapterConfigError, parse_fused
from .conv_cp import conv_modes
from .registry import CONV_TYPES, LayerSettings, find_builder, supported_types
from .targets import PRESETS, closest_names, matches, matching

STATE_ATTR = "_lava_state"


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
            lines.append(f"{r.name[-56:]:<56} {r.layer_type:<16} {r.adapter:<13} {r.rank:>4} {r.scale:>7.4g} "
                         f"{r.lam:>7.4g} {r.params:>10,}")
        for m in self.saved_modules:
            lines.append(f"{m[-56:]:<56} {'(saved)':<16} {'full':<13} {'':>4}")
        lines.append("-" * len(head))
        lines.append(f"method={self.method}  adapted layers={len(self.rows)}  adapter params={self.adapter_params:,}  "
                     f"modules_to_save params={self.saved_params:,}")
        lines.append(f"trainable {self.trainable_params:,} of {self.base_params:,} base params "
                     f"({self.trainable_percent:.3f}%)")
        return "\n".join(lines)


@dataclass
class InjectionState:
    config: AdapterConfig
    plan: Plan
    fingerprint: dict
    layers: list | None = None  # the adapter modules, in model order (for per-step loops)


def adapter_layers(model: nn.Module) -> Iterator[tuple[str, AdapterLayer]]:
    for name, module in model.named_modules():
        if isinstance(module, AdapterLayer):
            yield name, module


def _expanded_patterns(cfg: AdapterConfig) -> tuple[list[str], list[str], list[str], dict[str, str], dict]:
    """(user targets, preset targets, excludes, fused, overrides) after expanding the preset;
    the user's fused/overrides entries come after (and so win over) the preset's."""
    preset_targets, excludes, fused, overrides = [], list(cfg.excludes), {}, {}
    if cfg.preset is not None:
        if cfg.preset not in PRESETS:
            raise AdapterConfigError(f"adapter.preset={cfg.preset!r}: unknown; known presets: {sorted(PRESETS)}")
        p = PRESETS[cfg.preset]
        preset_targets = list(p.get("targets", []))
        excludes += p.get("excludes", [])
        fused.update(p.get("fused", {}))
        overrides.update({k: v for k, v in p.get("overrides", {}).items() if k not in cfg.overrides})
    fused = {k: v for k, v in fused.items() if k not in cfg.fused}
    fused.update(cfg.fused)
    overrides.update(cfg.overrides)  # re-inserted keys go last, so the user's order decides
    return list(cfg.targets), preset_targets, excludes, fused, overrides


def _no_match_error(kind: str, pattern: str, names: list[str]) -> AdapterConfigError:
    hint = closest_names(pattern, names)
    return AdapterConfigError(f"adapter.{kind}: pattern {pattern!r} matches no adaptable layer"
                              + (f"; close names: {hint}" if hint else ""))


def _count_params(layer: nn.Module, s: LayerSettings, method: str) -> tuple[int, str]:
    w = layer.weight
    if isinstance(layer, CONV_TYPES):
        if method == "lava":
            return s.rank * sum(w.shape), "CPConv"
        return s.rank * (w.shape[0] + w[0].numel()), "FlatLoRAConv"
    out_f, in_f = w.shape
    n_chunks, sel = s.fused or (1, [0])
    return len(sel) * s.rank * (in_f + out_f // n_chunks), "LoRALinear"


def _max_rank(name: str, layer: nn.Module, s: LayerSettings, cfg: AdapterConfig) -> int:
    w = layer.weight
    if isinstance(layer, CONV_TYPES) and cfg.method == "lava":
        bound = math.prod(w.shape) // max(w.shape)  # generic upper bound on a tensor's CP rank
        if s.lam > 0:
            out_mode, in_mode = conv_modes(layer)
            rows = {"U": w.shape[out_mode], "V": w.shape[in_mode]}
            for f in cfg.regularize_conv:
                sizes = [rows[f]] if f in rows else list(w.shape[2:])
                bound = min(bound, *sizes)
        return bound
    if isinstance(layer, CONV_TYPES):
        return min(w.shape[0], w[0].numel())
    n_chunks = s.fused[0] if s.fused else 1
    return min(w.shape[0] // n_chunks, w.shape[1])


def plan(model: nn.Module, config: AdapterConfig) -> Plan:
    """Resolve every pattern against ``model`` without changing it; raise on anything that cannot work."""
    cfg = config.validate()
    if any(True for _ in adapter_layers(model)):
        raise AdapterConfigError("model already has adapters; call unload() first")
    named = [(n, m) for n, m in model.named_modules() if n]
    names = [n for n, _ in named]
    result = Plan(method=cfg.method, base_params=sum(p.numel() for p in model.parameters()))

    saved: list[str] = []
    for pattern in cfg.modules_to_save:
        hits = matching(pattern, named)
        if not hits:
            raise _no_match_error("modules_to_save", pattern, names)
        saved += [h for h in hits if not any(h.startswith(s + ".") for s in saved)]
    # keep only top-most saved modules
    saved = [s for s in dict.fromkeys(saved) if not any(s.startswith(o + ".") for o in saved if o != s)]
    result.saved_modules = saved
    result.saved_params = sum(p.numel() for s in saved for p in model.get_submodule(s).parameters())
    if cfg.method in ("full", "frozen"):
        if cfg.method == "frozen" and not saved:
            raise AdapterConfigError("adapter.method='frozen' trains only modules_to_save, which is empty")
        return result

    user_targets, preset_targets, excludes, fused, overrides = _expanded_patterns(cfg)
    if not user_targets and not preset_targets:
        raise AdapterConfigError("adapter.targets is empty and no adapter.preset is set: nothing to adapt")
    excluded = {n for p in excludes for n in matching(p, named)}
    for p in cfg.excludes:
        if not matching(p, named):
            raise _no_match_error("excludes", p, names)

    def adaptable(hits: list[str], what: str) -> list[str]:
        """Supported layers among ``hits``. Unsupported layers with weights are skipped when the
        pattern also reaches supported ones (``blocks.*`` skips norms) and are an error when they
        are all the pattern reaches (``blocks.0.bn``)."""
        out, unsupported = [], []
        for n in hits:
            m = model.get_submodule(n)
            if n in excluded or any(n == s or n.startswith(s + ".") for s in saved):
                continue
            if next(m.children(), None) is not None or next(m.parameters(recurse=False), None) is None:
                continue  # containers and parameter-free modules are not layers to adapt
            (out if find_builder(cfg.method, m) is not None else unsupported).append(n)
        if not out and unsupported:
            n = unsupported[0]
            raise AdapterConfigError(
                f"{what}: layer {n!r} of type {type(model.get_submodule(n)).__name__} is targeted, but "
                f"method {cfg.method!r} has no adapter for it (supported: {supported_types(cfg.method)})")
        return out

    selected: list[str] = []
    for p in user_targets:
        hits = adaptable(matching(p, named), f"adapter.targets pattern {p!r}")
        if not hits:
            raise _no_match_error("targets", p, names)
        selected += hits
    if preset_targets:
        hits = adaptable([n for p in preset_targets for n in matching(p, named)], f"adapter.preset={cfg.preset!r}")
        if not hits:
            raise AdapterConfigError(f"adapter.preset={cfg.preset!r} matches no adaptable layer of this model")
        selected += hits
    selected = list(dict.fromkeys(selected))
    sel_set = set(selected)
    for p in cfg.overrides:
        if not any(matches(p, n, model.get_submodule(n)) for n in selected):
            raise _no_match_error("overrides", p, selected)
    for p in cfg.fused:
        if not any(matches(p, n, model.get_submodule(n)) for n in selected):
            raise _no_match_error("fused", p, selected)

    for n in (n for n, _ in named if n in sel_set):  # model order
        layer = model.get_submodule(n)
        s = LayerSettings(cfg.rank, cfg.alpha, cfg.lam)
        for p, values in overrides.items():
            if matches(p, n, layer):
                s.rank = int(values.get("rank", s.rank))
                s.alpha = float(values["alpha"]) if "alpha" in values else s.alpha
                s.lam = float(values.get("lam", s.lam))
        if s.alpha is None:  # default: alpha = R, s = 1 at every rank
            s.alpha = float(s.rank)
        for p, spec in fused.items():
            if matches(p, n, layer):
                if not isinstance(layer, nn.Linear):
                    raise AdapterConfigError(f"adapter.fused[{p!r}] matches {n!r}, a {type(layer).__name__}; "
                                             "only nn.Linear layers can be fused")
                s.fused = parse_fused(spec, f"adapter.fused[{p!r}]")
                if layer.weight.shape[0] % s.fused[0]:
                    raise AdapterConfigError(f"adapter.fused[{p!r}]: layer {n!r} has {layer.weight.shape[0]} "
                                             f"outputs, not divisible into {s.fused[0]} chunks")
        limit = _max_rank(n, layer, s, cfg)
        if s.rank > limit:
            raise AdapterConfigError(f"adapter.rank={s.rank} is larger than layer {n!r} "
                                     f"({type(layer).__name__}, weight {list(layer.weight.shape)}) allows "
                                     f"(at most {limit}); lower it with adapter.overrides")
        count, kind = _count_params(layer, s, cfg.method)
        lam = s.lam if cfg.method == "lava" else 0.0  # method lora has no regulariser
        result.rows.append(PlanRow(n, type(layer).__name__, kind, s.rank, s.alpha, lam, count,
                                   list(layer.weight.shape), s.fused, cfg.scale(s.rank, s.alpha)))
        result.adapter_params += count
    return result


def fingerprint(model: nn.Module, p: Plan) -> dict:
    """Names, types and shapes of the adapted layers and saved modules of the base model."""
    return {
        "model_class": type(model).__name__,
        "adapted": {r.name: {"type": r.layer_type, "shape": r.shape} for r in p.rows},
        "saved": {f"{s}.{k}": list(v.shape) for s in p.saved_modules
                  for k, v in model.get_submodule(s).state_dict().items()},
    }


def inject(model: nn.Module, config: AdapterConfig) -> Plan:
    """Adapt ``model`` in place as ``plan`` describes; return the plan."""
    p = plan(model, config)
    fp = fingerprint(model, p)
    for row in p.rows:
        layer = model.get_submodule(row.name)
        s = LayerSettings(row.rank, row.alpha, row.lam, row.fused)
        adapter = find_builder(config.method, layer)(layer, s, config)
        parent_name, _, child = row.name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, adapter)
    for prm in model.parameters():
        prm.requires_grad_(config.method == "full")
    for _, layer in adapter_layers(model):
        for n in layer.factor_names:
            getattr(layer, n).requires_grad_(True)
    for s in p.saved_modules:
        for prm in model.get_submodule(s).parameters():
            prm.requires_grad_(True)
    built = sum(layer.num_adapter_params() for _, layer in adapter_layers(model))
    if built != p.adapter_params:  # the plan's numbers are a promise; keep it honest
        raise RuntimeError(f"adapter parameter count {built} differs from the plan's {p.adapter_params}")
    setattr(model, STATE_ATTR, InjectionState(config, p, fp, [m for _, m in adapter_layers(model)]))
    return p


def injection_state(model: nn.Module) -> InjectionState:
    state = getattr(model, STATE_ATTR, None)
    if state is None:
        raise ValueError(f"{type(model).__name__} has no adapters: call inject() or load_adapter() first")
    return state


def merge(model: nn.Module) -> None:
    """Fold every update into its base weight; forward then costs what the base costs."""
    for _, layer in adapter_layers(model):
        layer.merge()


def unmerge(model: nn.Module) -> None:
    for _, layer in adapter_layers(model):
        layer.unmerge()


def unload(model: nn.Module) -> nn.Module:
    """Merge and replace every adapter by its base layer: a plain model, no adapter modules left."""
    for name, layer in list(adapter_layers(model)):
        layer.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, layer.base_layer)
    if hasattr(model, STATE_ATTR):
        delattr(model, STATE_ATTR)
    return model


@contextlib.contextmanager
def disable_adapters(model: nn.Module) -> Iterator[nn.Module]:
    """Run the base model: adapters are bypassed (merged ones unmerged) and restored on exit."""
    layers = [layer for _, layer in adapter_layers(model)]
    was_merged = [layer.merged for layer in layers]
    try:
        for layer in layers:
            layer.unmerge()
            layer.disabled = True
        yield model
    finally:
        for layer, merged in zip(layers, was_merged):
            layer.disabled = False
            if merged:
                layer.merge()


def train_mode(model: nn.Module, mode: bool = True) -> nn.Module:
    """``model.train(mode)``, but normalisation layers whose parameters are all frozen stay in
    eval mode, so their running statistics (part of the frozen base, not of the adapter file)
    are not silently changed by training."""
    model.train(mode)
    state = getattr(model, STATE_ATTR, None)
    if mode and (state is None or state.config.method != "full"):
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._NormBase):
                params = list(m.parameters())
                if params and not any(p.requires_grad for p in params):
                    m.eval()
                elif not params and m.track_running_stats:
                    m.eval()
    return model


def trainable_parameters(model: nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
