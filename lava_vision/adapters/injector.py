"""plan -> inject -> merge / unmerge / unload, driven by one AdapterConfig and the registry.

``plan`` is a dry run that resolves every pattern and reports what ``inject`` will do, with the
same parameter counts. ``inject`` replaces each matched layer by its adapter (the original
stays as ``.base_layer``), freezes everything else except ``modules_to_save``, keeps the frozen
norm layers in eval mode (their running statistics are part of the base, not of the adapter
file), and records the config and a fingerprint of the base on the model for ``save_adapter``.
"""
from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator

from torch import nn

from .adapter_set import MERGED_ATTR, adapter_slots, members, swap_modules
from .base import DEFAULT_NAME, AdapterLayer
from .config import DEFAULT_SCALE, AdapterConfig, AdapterConfigError, parse_fused
from .conv_cp import conv_modes
from .fingerprint import fingerprint
from .norms import frozen_norms, keep_eval
from .plan_table import Plan, PlanRow
from .registry import CONV_TYPES, LayerSettings, find_builder, supported_types
from .state import (
    BASE,
    NAMED_ATTR,
    STATE_ATTR,
    InjectionState,
    NamedAdapters,
    hold_saved,
    injection_state,
    named_adapters,
    saved_owners_now,
)
from .targets import PRESETS, closest_names, matches, matching

__all__ = ["MERGED_ATTR", "STATE_ATTR", "InjectionState", "adapter_layers", "injection_state", "swap_modules"]


def adapter_layers(model: nn.Module, names: str | Iterable[str] | None = None) -> Iterator[tuple[str, AdapterLayer]]:
    """(layer name, adapter layer) in model order, merged ones included: of the active adapter(s)
    by default (every layer of a single-adapter model), else of the adapters ``names``. Layers
    of a mix share names (one per adapter at a layer both adapt)."""
    wanted = {names} if isinstance(names, str) else set(names) if names is not None else None
    for name, slot in adapter_slots(model):
        for layer in members(slot):
            if layer.mix_weight is not None if wanted is None else layer.adapter_name in wanted:
                yield name, layer


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
    if any(True for _ in adapter_slots(model)):
        raise AdapterConfigError("model already has adapters; call unload() first, or add this one "
                                 "beside them under a name (inject(model, config, name=...))")
    named = [(n, m) for n, m in model.named_modules() if n]
    names = [n for n, _ in named]
    # a module reachable under several names (weight tying) is adapted once, under its first
    # name, and the adapter is installed at every name; patterns may use any of them
    first = {id(m): n for n, m in model.named_modules()}
    every_named = [(n, m) for n, m in model.named_modules(remove_duplicate=False) if n]
    aliases: dict[str, list[str]] = defaultdict(list)
    for n, m in every_named:
        if n != first[id(m)]:
            aliases[first[id(m)]].append(n)
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
    excluded = {first[id(m)] for p in excludes for n, m in every_named if matches(p, n, m)}
    for p in cfg.excludes:
        if not matching(p, every_named):
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

    def canonical(hits: list[str]) -> list[str]:
        return list(dict.fromkeys(first[id(model.get_submodule(n))] for n in hits))

    selected: list[str] = []
    for p in user_targets:
        hits = adaptable(canonical(matching(p, every_named)), f"adapter.targets pattern {p!r}")
        if not hits:
            raise _no_match_error("targets", p, names)
        selected += hits
    if preset_targets:
        hits = adaptable(canonical([n for p in preset_targets for n in matching(p, every_named)]),
                         f"adapter.preset={cfg.preset!r}")
        if not hits:
            raise AdapterConfigError(f"adapter.preset={cfg.preset!r} matches no adaptable layer of this model")
        selected += hits
    selected = list(dict.fromkeys(selected))
    sel_set = set(selected)
    _refuse_shared_weights(model, selected)
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
        for p, spec in fused.items():
            if matches(p, n, layer):
                if not isinstance(layer, nn.Linear):
                    raise AdapterConfigError(f"adapter.fused[{p!r}] matches {n!r}, a {type(layer).__name__}; "
                                             "only nn.Linear layers can be fused")
                s.fused = parse_fused(spec, f"adapter.fused[{p!r}]")
                if layer.weight.shape[0] % s.fused[0]:
                    raise AdapterConfigError(f"adapter.fused[{p!r}]: layer {n!r} has {layer.weight.shape[0]} "
                                             f"outputs, not divisible into {s.fused[0]} chunks")
        limit, clamped_from = _max_rank(n, layer, s, cfg), None
        if s.rank > limit:
            if cfg.rank_policy != "clamp":
                raise AdapterConfigError(f"adapter.rank={s.rank} is larger than layer {n!r} "
                                         f"({type(layer).__name__}, weight {list(layer.weight.shape)}) allows "
                                         f"(at most {limit}); lower it with adapter.overrides, or set "
                                         "adapter.rank_policy='clamp'")
            clamped_from, s.rank = s.rank, limit
        if s.alpha is None:  # default: alpha = 2 R (the layer's rank, after any clamp), s = 2 at every rank
            s.alpha = DEFAULT_SCALE * s.rank
        count, kind = _count_params(layer, s, cfg.method)
        lam = s.lam if cfg.method == "lava" else 0.0  # method lora has no regulariser
        result.rows.append(PlanRow(n, type(layer).__name__, kind, s.rank, s.alpha, lam, count,
                                   list(layer.weight.shape), s.fused, clamped_from, list(aliases.get(n, [])),
                                   cfg.scale(s.rank, s.alpha)))
        result.adapter_params += count
    return result


def _refuse_shared_weights(model: nn.Module, selected: list[str]) -> None:
    """A parameter of a selected layer that another module also holds (tied weights across two
    modules) cannot be adapted: merging would fold one layer's update into the other."""
    owners: dict[int, list[str]] = defaultdict(list)
    for pname, prm in model.named_parameters(remove_duplicate=False):
        owners[id(prm)].append(pname)
    for n in selected:
        layer = model.get_submodule(n)
        for local, prm in layer.named_parameters(recurse=False):
            others = [o for o in owners[id(prm)] if model.get_submodule(o.rpartition(".")[0]) is not layer]
            if others:
                raise AdapterConfigError(f"layer {n!r}: its {local} is tied to {', '.join(others)} of another "
                                         "module; adapting one would change the other on merge. Exclude it "
                                         "(adapter.excludes) or untie the weights")


def inject(model: nn.Module, config: AdapterConfig, name: str = DEFAULT_NAME) -> Plan:
    """Adapt ``model`` (which has no adapters) in place as ``plan`` describes, as adapter ``name``;
    return the plan. ``adapters.named.inject`` adds an adapter beside others."""
    p = plan(model, config)
    fp = fingerprint(model, p)
    swaps = []
    for row in p.rows:
        layer = model.get_submodule(row.name)
        s = LayerSettings(row.rank, row.alpha, row.lam, row.fused)
        swaps.append((layer, find_builder(config.method, layer)(layer, s, config)))
    for _, layer in swaps:
        layer.adapter_name = name
    swap_modules(model, swaps)
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
    norms = [] if config.method == "full" else frozen_norms(model, p.saved_modules)
    for norm in norms:
        norm.train(False)
    state = InjectionState(config, p, fp, [m for _, m in adapter_layers(model)],
                           [(m, m.register_forward_pre_hook(keep_eval)) for m in norms], name=name)
    saved = {s: {k: v.detach().clone() for k, v in model.get_submodule(s).state_dict().items()}
             for s in p.saved_modules}  # the base values, to give back when another adapter is active
    setattr(model, STATE_ATTR, state)
    setattr(model, NAMED_ATTR, NamedAdapters({name: state}, {s: name for s in saved},
                                             {(BASE, s): v for s, v in saved.items()}))
    return p


def release_frozen_norms(model: nn.Module, state: InjectionState | None = None) -> None:
    """Remove the keep-eval hooks ``inject`` put on frozen norm layers (when adapters are removed;
    ``state``'s only, else every adapter's); the layers follow the model's mode again."""
    reg = named_adapters(model)
    states = [state] if state is not None else list(reg.states.values()) if reg is not None else []
    for s in states:
        for norm, handle in s.frozen_norms:
            handle.remove()
            norm.train(model.training)


def merge(model: nn.Module) -> None:
    """Fold every active update (times its mix weight) into its base weight and put the base
    layer back in the adapter's place (at every name a tied layer has), so forward runs the base
    model's own modules (no wrapper call per layer); ``unmerge`` restores the adapters. While
    merged, the adapter factors are not in ``model.parameters()`` or ``model.state_dict()``
    (``adapter_layers`` and ``save_adapter`` still find them)."""
    swaps = []
    for _, slot in list(adapter_slots(model)):
        for layer in members(slot):
            layer.merge()
        if MERGED_ATTR not in slot.base_layer.__dict__ and any(m.merged for m in members(slot)):
            slot.base_layer.__dict__[MERGED_ATTR] = slot
            swaps.append((slot, slot.base_layer))
    swap_modules(model, swaps)


def unmerge(model: nn.Module) -> None:
    """Subtract every merged update from its base weight and put the adapters back in place."""
    swaps = []
    for _, slot in list(adapter_slots(model)):
        for layer in members(slot):
            layer.unmerge()
        if slot.base_layer.__dict__.pop(MERGED_ATTR, None) is not None:
            swaps.append((slot.base_layer, slot))
    swap_modules(model, swaps)


def unload(model: nn.Module) -> nn.Module:
    """Merge the active adapter(s), drop the others and replace every adapter by its base layer:
    a plain model, no adapter modules left."""
    slots = [slot for _, slot in adapter_slots(model)]
    for slot in slots:
        for layer in members(slot):
            layer.merge()
        slot.base_layer.__dict__.pop(MERGED_ATTR, None)
    swap_modules(model, [(slot, slot.base_layer) for slot in slots])
    if hasattr(model, STATE_ATTR):
        release_frozen_norms(model)
        delattr(model, STATE_ATTR)
        delattr(model, NAMED_ATTR)
    return model


@contextlib.contextmanager
def disable_adapters(model: nn.Module) -> Iterator[nn.Module]:
    """Run the base model: adapters are bypassed (merged ones unmerged) and modules saved by an
    adapter (``modules_to_save``, e.g. a trained head) hold their base values; all restored on exit."""
    layers = [layer for _, slot in adapter_slots(model) for layer in members(slot)]
    was_merged = [layer.merged for layer in layers]
    reg = named_adapters(model)
    saved = saved_owners_now(reg) if reg is not None else {}
    try:
        for layer in layers:
            layer.unmerge()
            layer.disabled = True
        if reg is not None:
            hold_saved(model, reg, dict.fromkeys(saved, BASE))
        yield model
    finally:
        if reg is not None:
            hold_saved(model, reg, saved)
        for layer, merged in zip(layers, was_merged):
            layer.disabled = False
            if merged:
                layer.merge()


def train_mode(model: nn.Module, mode: bool = True) -> nn.Module:
    """``model.train(mode)``. An adapted model keeps its frozen norm layers (see ``frozen_norms``)
    in eval mode by itself at every forward; this also sets their ``training`` flags at once."""
    model.train(mode)
    reg = named_adapters(model)
    for state in (reg.states.values() if reg is not None else ()):
        for norm, _ in state.frozen_norms:
            norm.train(False)
    return model

