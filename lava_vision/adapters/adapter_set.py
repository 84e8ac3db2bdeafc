"""Where adapters sit in a model: one ``AdapterLayer`` in place of its base layer, or, where
several named adapters adapt the same layer, one ``AdapterSet`` holding them all.

An adapted position ("slot") is the adapter module installed where the base layer was. A layer
adapted by one adapter holds that ``AdapterLayer`` (with ``base_layer`` registered inside it,
exactly the single-adapter layout); a layer adapted by several holds an ``AdapterSet`` whose
``base_layer`` is registered once and whose members keep the same base layer out of the module
tree (in their ``__dict__``), so every base tensor has one state-dict key. ``merge`` puts the base
layer back in the slot's place and keeps the slot under ``MERGED_ATTR`` in the base layer's
``__dict__``.
"""
from __future__ import annotations

from collections.abc import Iterator

from torch import nn

from .base import AdapterLayer, mixed_forward

# Key, in a base layer's __dict__ (not a registered submodule), of the merged slot that
# ``merge`` swapped the base layer in for; ``unmerge`` swaps the slot back.
MERGED_ATTR = "_lava_merged_adapter"


class AdapterSet(nn.Module):
    """Several named adapters on one base layer: ``base(x) + sum_i w_i dW_i x`` over the active ones.

    ``adapters`` maps adapter name -> ``AdapterLayer``; every member's ``base_layer`` is this
    set's ``base_layer`` (the same object)."""

    def __init__(self, base_layer: nn.Module, members: list[AdapterLayer]):
        super().__init__()
        self.base_layer = base_layer
        self.adapters = nn.ModuleDict()
        for m in members:
            if m.base_layer is not base_layer:
                raise ValueError(f"adapter {m.adapter_name!r} wraps another base layer than this set's")
            hide_base(m)
            self.adapters[m.adapter_name] = m

    def forward(self, x, *args, **kwargs):
        return mixed_forward(self.base_layer, tuple(self.adapters.values()), x, *args, **kwargs)


def hide_base(layer: AdapterLayer) -> None:
    """Keep ``layer.base_layer`` as a plain attribute, out of the module tree (an ``AdapterSet`` member)."""
    base = layer._modules.pop("base_layer", None)
    if base is not None:
        layer.__dict__["base_layer"] = base


def show_base(layer: AdapterLayer) -> None:
    """Register ``layer.base_layer`` again, first among its children as ``AdapterLayer.__init__`` does."""
    base = layer.__dict__.pop("base_layer", None)
    if base is not None:
        children = {"base_layer": base, **layer._modules}
        layer._modules.clear()
        layer._modules.update(children)


def members(slot: nn.Module) -> list[AdapterLayer]:
    """The adapter layers of one slot (an ``AdapterLayer`` or an ``AdapterSet``)."""
    return list(slot.adapters.values()) if isinstance(slot, AdapterSet) else [slot]


def adapter_slots(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(name, slot) for every adapted position in model order, merged slots included; a tied
    layer is reported once, under its first name."""
    inside: set[int] = set()
    for name, module in model.named_modules():
        slot = module.__dict__.get(MERGED_ATTR, module)
        if id(slot) in inside:
            continue
        if isinstance(slot, AdapterSet):
            inside.update(id(m) for m in slot.adapters.values())
            yield name, slot
        elif isinstance(slot, AdapterLayer):
            yield name, slot


def swap_modules(model: nn.Module, swaps: list[tuple[nn.Module, nn.Module]]) -> None:
    """For each ``(old, new)``, put ``new`` at every name under which ``old`` is reachable (a tied
    module has several); one walk over the model for all of them."""
    new_of = {id(old): new for old, new in swaps}
    for name, module in list(model.named_modules(remove_duplicate=False)):
        if name and id(module) in new_of:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, new_of[id(module)])


def strip(model: nn.Module) -> list[AdapterLayer]:
    """Put every base layer back in its slot's place (the model's tree is the base's again) and
    return all adapter layers; ``install`` puts them back. Refuses merged slots."""
    layers, swaps = [], []
    for name, slot in list(adapter_slots(model)):
        if MERGED_ATTR in slot.base_layer.__dict__ or any(m.merged for m in members(slot)):
            raise ValueError(f"layer {name!r} is merged: call unmerge(model) first")
        layers += members(slot)
        swaps.append((slot, slot.base_layer))
    swap_modules(model, swaps)
    for layer in layers:
        show_base(layer)
    return layers


def install(model: nn.Module, layers: list[AdapterLayer]) -> None:
    """Inverse of ``strip``: put each base layer's adapters in its place, alone (with the base
    layer registered in it) or, for several, in an ``AdapterSet`` (order of ``layers`` kept)."""
    by_base: dict[int, list[AdapterLayer]] = {}
    for layer in layers:
        by_base.setdefault(id(layer.base_layer), []).append(layer)
    swaps = []
    for group in by_base.values():
        base = group[0].base_layer
        if len(group) == 1:
            show_base(group[0])
            swaps.append((base, group[0]))
        else:
            swaps.append((base, AdapterSet(base, group)))
    swap_modules(model, swaps)
