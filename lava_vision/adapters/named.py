"""Several named adapters on one model: add, activate one or a weighted mix, delete.

    inject(model, cfg_a, name="a"); load_adapter(model, "runs/b/best", name="b")
    set_adapter(model, "b")                      # b alone
    set_adapter(model, {"a": 0.7, "b": -0.2})    # base + 0.7 dW_a - 0.2 dW_b at every layer
    delete_adapter(model, "a")

Semantics: the output of an adapted layer is ``base(x) + sum_i w_i dW_i x`` over the active
adapters that adapt it (their layer sets may differ); ``merge`` folds exactly that sum in.
Adding an adapter beside others leaves the active set as it was (the first adapter of a model
is active); only the active adapters' factors (and their modules_to_save) are trainable, and the
orthogonal regulariser acts on the active adapters' factors only, each with its own lam (the mix
weights do not enter it). A module saved by an adapter (``modules_to_save``, e.g. a head) holds
the values of the active adapter that saves it, or the base values when none does; two active
adapters saving the same module cannot be mixed. One adapter, named ``default`` unless named,
is the single-adapter model of before: same module tree, same state-dict keys, same files.
"""
from __future__ import annotations

import torch
from torch import nn

from ..json_types import is_number
from ..names import is_safe_name, name_rule
from . import injector
from .adapter_set import adapter_slots, install, members, strip
from .base import DEFAULT_NAME
from .config import AdapterConfig, AdapterConfigError
from .plan_table import Plan
from .state import (
    BASE,
    NAMED_ATTR,
    STATE_ATTR,
    InjectionState,
    NamedAdapters,
    hold_saved,
    injection_state,
    named_adapters,
)


def adapter_names(model: nn.Module) -> list[str]:
    """Names of the model's adapters, in the order they were added ([] without adapters)."""
    reg = named_adapters(model)
    return list(reg.states) if reg is not None else []


def active_adapters(model: nn.Module) -> dict[str, float]:
    """``{name: weight}`` of the active adapters."""
    reg = named_adapters(model)
    return reg.active() if reg is not None else {}


def _registry(model: nn.Module) -> NamedAdapters:
    reg = named_adapters(model)
    if reg is None:
        raise ValueError(f"{type(model).__name__} has no adapters: call inject() or load_adapter() first")
    return reg


def check_name(name: str) -> str:
    """``name`` if it is an adapter name (``names.py``: the rule zoo ids share) and no ModuleDict
    attribute; else a ValueError naming it."""
    if not is_safe_name(name, kind="adapter") or hasattr(nn.ModuleDict(), name):
        raise ValueError(f"adapter name {name!r}: use {name_rule(kind='adapter')}, and not a ModuleDict "
                         "method such as 'keys' or 'update'")
    return name


def _paths_clash(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _check_beside(new: InjectionState, states: dict[str, InjectionState]) -> None:
    """A new adapter's saved modules may equal another's saved modules, but neither overlap
    another adapter's adapted layers nor nest in (or around) another's saved module."""
    new_saved, new_adapted = new.plan.saved_modules, [r.name for r in new.plan.rows]
    for other in states.values():
        saved, adapted = other.plan.saved_modules, [r.name for r in other.plan.rows]
        pairs = ([(a, b, False) for a in new_saved for b in saved]
                 + [(a, b, True) for a in new_saved for b in adapted]
                 + [(a, b, True) for a in saved for b in new_adapted])
        for a, b, strict in pairs:
            if _paths_clash(a, b) and (strict or a != b):
                raise AdapterConfigError(f"adapter {new.name!r}: module {a!r} overlaps {b!r} of adapter "
                                         f"{other.name!r}; one adapter's modules_to_save cannot hold another's layers")


def inject(model: nn.Module, config: AdapterConfig, name: str | None = None) -> Plan:
    """Add adapter ``name`` (``default`` when omitted) as ``config`` describes and return its plan.

    On a model without adapters this is the single-adapter ``inject`` (the adapter is active).
    Beside other adapters the new one is planned on the base model's own layer names, starts
    inactive (``set_adapter`` activates it) and may adapt other layers than the others."""
    reg = named_adapters(model)
    if reg is None:
        return injector.inject(model, config, check_name(DEFAULT_NAME if name is None else name))
    if name is None:
        raise AdapterConfigError(f"model already has adapters {list(reg.states)}; call unload() first, or add "
                                 "this one beside them under a name (inject(model, config, name=...))")
    if check_name(name) in reg.states:
        raise AdapterConfigError(f"model already has an adapter named {name!r}")
    if "full" in [config.method] + [s.config.method for s in reg.states.values()]:
        raise AdapterConfigError("adapter.method='full' trains the whole model: it cannot share a base with "
                                 "other adapters")
    pointer, flags = model.__dict__[STATE_ATTR], {id(p): p.requires_grad for p in model.parameters()}
    old = strip(model)
    del model.__dict__[STATE_ATTR], model.__dict__[NAMED_ATTR]
    try:
        p = injector.inject(model, config, name)
        new_reg: NamedAdapters = model.__dict__[NAMED_ATTR]
        new = new_reg.states[name]
        _check_beside(new, reg.states)
    except BaseException:  # put the model back as it was: tree, records, trainable flags
        if NAMED_ATTR in model.__dict__:
            injector.release_frozen_norms(model)
        strip(model)
        install(model, old)
        model.__dict__.update({STATE_ATTR: pointer, NAMED_ATTR: reg})
        for prm in model.parameters():
            prm.requires_grad_(flags.get(id(prm), prm.requires_grad))
        raise
    install(model, old + strip(model))
    model.__dict__.update({STATE_ATTR: pointer, NAMED_ATTR: reg})
    new.weight = None
    for layer in new.layers:
        layer.mix_weight = None
    for s in p.saved_modules:  # inject snapshotted the live values: the base's only where nobody owned s
        base = reg.stored[(BASE, s)] if reg.live.get(s, BASE) != BASE else new_reg.stored[(BASE, s)]
        reg.live.setdefault(s, BASE)
        reg.stored[(name, s)] = {k: v.clone() for k, v in base.items()}
    reg.states[name] = new
    _sync(model, reg)
    return p


def set_adapter(model: nn.Module, adapter: str | dict[str, float]) -> None:
    """Activate one adapter (weight 1) or a weighted mix ``{name: weight}`` (any finite weights,
    negative or above 1 included); the others become inactive. A merged model is unmerged, switched
    and merged again. The saved modules take the values of the active adapter saving them."""
    reg = _registry(model)
    mix = {adapter: 1.0} if isinstance(adapter, str) else dict(adapter)
    if not mix:
        raise ValueError("set_adapter: name at least one adapter (disable_adapters() runs the base model)")
    for n, w in mix.items():
        if not is_number(w):
            raise ValueError(f"set_adapter: weight of {n!r} is {w!r}; expected a finite number")
    check_mix(model, list(mix))  # refuse a clash before anything changes
    merged = any(m.merged for _, slot in adapter_slots(model) for m in members(slot))
    if merged:
        injector.unmerge(model)
    for n, state in reg.states.items():
        state.weight = float(mix[n]) if n in mix else None
        for layer in state.layers or []:
            layer.mix_weight = state.weight
    _sync(model, reg)
    if merged:
        injector.merge(model)


def check_mix(model: nn.Module, names: list[str]) -> None:
    """Raise ``ValueError`` (naming the adapter and the module) unless adapters ``names`` of
    ``model`` can be active together: each exists and no two save the same module
    (``modules_to_save``, e.g. each its own classifier head). ``set_adapter`` refuses exactly these
    mixes; a caller asks first to offer a mix only where one can be made."""
    reg = _registry(model)
    for n in names:
        if n not in reg.states:
            raise ValueError(f"set_adapter: no adapter named {n!r}; the model has {list(reg.states)}")
    _saved_owners(reg, dict.fromkeys(names, 1.0))


def delete_adapter(model: nn.Module, name: str) -> None:
    """Remove adapter ``name`` without merging it. Its saved modules get back the base values (or
    another active adapter's). If no active adapter is left, the first remaining one becomes active;
    deleting the last adapter leaves the base model's own module tree."""
    reg = _registry(model)
    state = injection_state(model, name)
    merged = any(m.merged for _, slot in adapter_slots(model) for m in members(slot))
    if merged:
        injector.unmerge(model)
    state.weight = None
    _sync_saved(model, reg)
    layers = strip(model)
    injector.release_frozen_norms(model, state)
    del reg.states[name]
    for key in [k for k in reg.stored if k[0] == name]:
        del reg.stored[key]
    if not reg.states:
        del model.__dict__[STATE_ATTR], model.__dict__[NAMED_ATTR]
        return
    install(model, [layer for layer in layers if layer.adapter_name != name])
    if not reg.active():
        first = next(iter(reg.states.values()))
        first.weight = 1.0
        for layer in first.layers or []:
            layer.mix_weight = 1.0
    _sync(model, reg)
    if merged:
        injector.merge(model)


def _saved_owners(reg: NamedAdapters, mix: dict[str, float]) -> dict[str, str]:
    """saved module path -> the adapter of ``mix`` whose values it must hold (or BASE)."""
    owners = {s: BASE for st in reg.states.values() for s in st.plan.saved_modules}
    for n in mix:
        for s in reg.states[n].plan.saved_modules:
            if owners[s] != BASE:
                raise ValueError(f"adapters {owners[s]!r} and {n!r} both save module {s!r} (modules_to_save): "
                                 "they cannot be active together; mix adapters that save no module in common")
            owners[s] = n
    return owners


def _sync_saved(model: nn.Module, reg: NamedAdapters) -> None:
    """Put in each saved module the values of its owner under the current activation."""
    hold_saved(model, reg, _saved_owners(reg, reg.active()))


def _sync(model: nn.Module, reg: NamedAdapters) -> None:
    """Saved modules' values, trainable flags (active adapters only) and the name-less pointer."""
    _sync_saved(model, reg)
    for state in reg.states.values():
        on = state.weight is not None
        for layer in state.layers or []:
            for pname in layer.factor_names:
                getattr(layer, pname).requires_grad_(on)
        for s in state.plan.saved_modules:
            if reg.live.get(s) == state.name or (not on and reg.live.get(s) == BASE):
                for prm in model.get_submodule(s).parameters():
                    prm.requires_grad_(on)
    try:
        model.__dict__[STATE_ATTR] = injection_state(model)
    except ValueError:  # a mix: the pointer stays on one of the active adapters
        active = reg.active()
        model.__dict__[STATE_ATTR] = reg.states[next(iter(active))] if active else next(iter(reg.states.values()))


def adapter_memory(model: nn.Module) -> dict[str, int]:
    """Bytes held: one entry per adapter (its factors and its saved modules' values, live or kept
    aside) and ``base``: every other tensor (the base's own, its saved modules' base values
    included), i.e. what the model held before any adapter."""
    reg = _registry(model)
    per = {n: 0 for n in reg.states}
    seen: set[int] = set()

    def count(owner: str, tensors) -> None:
        for t in tensors:
            seen.add(id(t))
            per[owner] += t.numel() * t.element_size()

    for _, slot in adapter_slots(model):
        for layer in members(slot):
            count(layer.adapter_name, [getattr(layer, pname) for pname in layer.factor_names])
    for s, owner in reg.live.items():
        if owner != BASE:
            module = model.get_submodule(s)
            count(owner, list(module.parameters()) + list(module.buffers()))
    base = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers())
               if id(t) not in seen)
    for (owner, _), tensors in reg.stored.items():
        size = sum(v.numel() * v.element_size() for v in tensors.values())
        if owner == BASE:
            base += size  # the base values of a saved module while an adapter's are live
        else:
            per[owner] += size
    return {"base": base, **per}


def base_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict the model had before any adapter: adapter tensors left out, ``base_layer``
    keys under the layer's own name, saved modules with their base values. Refuses a merged model
    (its base weights hold the updates)."""
    reg = named_adapters(model)
    if reg is None:
        return model.state_dict()
    adapted: dict[int, nn.Module] = {}
    for name, slot in adapter_slots(model):
        if any(m.merged for m in members(slot)):
            raise ValueError(f"layer {name!r} is merged: call unmerge(model) first")
        adapted[id(slot)] = slot
    out = {}
    for path, module in model.named_modules(remove_duplicate=False):
        if id(module) in adapted:  # every name of a tied slot, as the base's state dict had them
            for k, v in module.base_layer.state_dict().items():
                out[f"{path}.{k}" if path else k] = v
    prefixes = tuple(f"{p}." for p, m in model.named_modules(remove_duplicate=False) if id(m) in adapted)
    merged_out = {k: v for k, v in model.state_dict().items() if not k.startswith(prefixes)}
    for s, owner in reg.live.items():
        if owner != BASE:
            for k, v in reg.stored[(BASE, s)].items():
                merged_out[f"{s}.{k}"] = v
    merged_out.update(out)
    return merged_out
