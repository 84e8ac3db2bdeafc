"""What an adapted model records about its adapters (attributes on the model, not modules).

``NAMED_ATTR`` holds a ``NamedAdapters``: every adapter by name (its ``InjectionState``, in the
order added) and the saved modules' values that are not live. ``STATE_ATTR`` points at one of
those states, the adapter a name-less call means (the only one, else the only active one): the
attribute single-adapter code has always read.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .config import AdapterConfig
from .plan_table import Plan

STATE_ATTR = "_lava_state"
NAMED_ATTR = "_lava_adapters"
BASE = ""  # owner name of a saved module's base values


@dataclass
class InjectionState:
    config: AdapterConfig
    plan: Plan
    fingerprint: dict
    layers: list | None = None  # the adapter modules, in model order (for per-step loops)
    frozen_norms: list = field(default_factory=list)  # (norm layer, its keep-eval hook handle)
    name: str = "default"
    weight: float | None = 1.0  # weight in the active mix; None while inactive


@dataclass
class NamedAdapters:
    """Every adapter of a model, and where each saved module's values are.

    ``live[path]``: whose values the saved module ``path`` holds now (an adapter name or ``BASE``);
    ``stored[(owner, path)]``: the state dict of ``path`` for every other owner (cloned tensors)."""

    states: dict[str, InjectionState] = field(default_factory=dict)
    live: dict[str, str] = field(default_factory=dict)
    stored: dict[tuple[str, str], dict[str, torch.Tensor]] = field(default_factory=dict)

    def active(self) -> dict[str, float]:
        return {n: s.weight for n, s in self.states.items() if s.weight is not None}


def named_adapters(model: nn.Module) -> NamedAdapters | None:
    return model.__dict__.get(NAMED_ATTR)


def saved_owners_now(reg: NamedAdapters) -> dict[str, str]:
    """saved module path -> whose values it holds now (an adapter name or ``BASE``)."""
    return {s: reg.live.get(s, BASE) for st in reg.states.values() for s in st.plan.saved_modules}


def hold_saved(model: nn.Module, reg: NamedAdapters, owners: dict[str, str]) -> None:
    """Put in each saved module ``path`` the values of ``owners[path]`` (an adapter name or
    ``BASE``), keeping the values it held aside in ``reg.stored``."""
    for s, owner in owners.items():
        live = reg.live.get(s, BASE)
        if live == owner:
            continue
        module = model.get_submodule(s)
        with torch.no_grad():
            reg.stored[(live, s)] = {k: v.detach().clone() for k, v in module.state_dict().items()}
            current = module.state_dict()
            for k, v in reg.stored.pop((owner, s)).items():
                current[k].copy_(v)
        reg.live[s] = owner


def injection_state(model: nn.Module, name: str | None = None) -> InjectionState:
    """The state of adapter ``name``; without a name, the model's only adapter or else its only
    active one (a mix of several, or none active among several, needs a name)."""
    reg = named_adapters(model)
    if reg is None or not reg.states:
        raise ValueError(f"{type(model).__name__} has no adapters: call inject() or load_adapter() first")
    if name is not None:
        if name not in reg.states:
            raise ValueError(f"{type(model).__name__} has no adapter named {name!r}; it has {list(reg.states)}")
        return reg.states[name]
    if len(reg.states) == 1:
        return next(iter(reg.states.values()))
    active = reg.active()
    if len(active) == 1:
        return reg.states[next(iter(active))]
    raise ValueError(f"{type(model).__name__} has adapters {list(reg.states)} with {active or 'none'} active: "
                     "name the adapter (name=...)")
