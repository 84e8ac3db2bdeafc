"""Export from a model with several named adapters: one adapter by name (``export_adapter``), every
adapter into its own folder (``export_each``), or a weighted mix as one adapter (``combine_adapters``).

A mix of adapters is exactly one adapter of rank sum_i R_i per layer, because each update is a
sum of R_i rank-one terms: CP conv  U' = [w_1 s_1 U_1 | w_2 s_2 U_2 ...], V' = [V_1 | V_2 ...],
K' = [K_1 | K_2 ...]; LoRA form  A' = [A_1; A_2 ...], B' = [w_1 s_1 B_1 | w_2 s_2 B_2 ...]; both at
scale 1 (a fused projection concatenates per output chunk, with zero blocks for a chunk an adapter
does not adapt). ``combine_adapters`` adds that adapter to the model under a new name, so every
exporter (PEFT, kohya, merged) writes it as one LoRA pair per layer of rank sum_i R_i.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ..adapters import (
    AdapterConfig,
    AdapterConfigError,
    CPConv,
    FlatLoRAConv,
    LoRALinear,
    Plan,
    active_adapters,
    adapter_layers,
    adapter_names,
    inject,
    injection_state,
    set_adapter,
)
from ..adapters.state import named_adapters
from .report import ExportReport


@contextlib.contextmanager
def activated(model: nn.Module, name: str) -> Iterator[nn.Module]:
    """Adapter ``name`` alone active inside the block (what the exporters read); the previous
    activation is restored after."""
    before = active_adapters(model)
    set_adapter(model, name)
    try:
        yield model
    finally:
        set_adapter(model, before)


def export_adapter(model: nn.Module, directory: str | os.PathLike, format: str, name: str,  # noqa: A002
                   **options) -> ExportReport:
    """Export adapter ``name`` of ``model`` as ``format`` (``export.export``'s formats and options)."""
    from . import export

    injection_state(model, name)  # a clear error for an unknown name
    with activated(model, name):
        return export(model, directory, format, **options)


def export_each(model: nn.Module, directory: str | os.PathLike, format: str,  # noqa: A002
                **options) -> dict[str, ExportReport]:
    """Every adapter of ``model`` into ``directory/<name>``; returns the reports by name. With
    ``strict=True`` every adapter is checked before any folder is written: one with a layer left
    out is a ValueError naming the adapter and the layers, and nothing is written."""
    from . import planned_report

    names = adapter_names(model)
    if options.get("strict"):
        for n in names:
            with activated(model, n):
                try:
                    planned_report(model, format, **options).require_exact()
                except ValueError as e:
                    raise ValueError(f"export_each: adapter {n!r}: {e}") from None
    return {n: export_adapter(model, Path(directory) / n, format, n, **options) for n in names}


def _kind(layer) -> str:
    return type(layer).__name__


def combine_adapters(model: nn.Module, mix: dict[str, float], name: str) -> Plan:
    """Add adapter ``name`` equal to the mix ``{adapter: weight}`` exactly: at every layer any of
    them adapts, one update of rank sum of their ranks (inactive, like any adapter added beside
    others; ``set_adapter(model, name)`` runs it). The adapters must share a method; their saved
    modules go with the one adapter that saves each (two saving one module cannot be mixed).
    Raises AdapterConfigError naming the layer where the sum is not representable (a rank above
    what the layer allows, different adapter kinds on one layer)."""
    if not mix:
        raise ValueError("combine_adapters: name at least one adapter")
    states = {n: injection_state(model, n) for n in mix}
    methods = {s.config.method for s in states.values()}
    if len(methods) != 1 or methods & {"full", "frozen"}:
        raise AdapterConfigError(f"combine_adapters: adapters {list(mix)} have methods {sorted(methods)}; "
                                 "only adapters of one method (lava or lora) combine into one")
    by_layer: dict[str, list] = {}
    for n in mix:
        for lname, layer in adapter_layers(model, n):
            by_layer.setdefault(lname, []).append(layer)
    saved: dict[str, str] = {}
    for n, s in states.items():
        for m in s.plan.saved_modules:
            if m in saved:
                raise AdapterConfigError(f"combine_adapters: {saved[m]!r} and {n!r} both save module {m!r}")
            saved[m] = n
    first = next(iter(states.values())).config
    overrides, fused = {}, {}
    for lname, layers in by_layer.items():
        kinds = {_kind(layer) for layer in layers}
        if len(kinds) != 1:
            raise AdapterConfigError(f"combine_adapters: layer {lname!r} holds {sorted(kinds)}; not one kind")
        rank = sum(layer.rank for layer in layers)
        alpha = rank ** 0.5 if first.scaling == "rslora" else float(rank)  # scale 1: the s_i go into the factors
        overrides[lname] = {"rank": rank, "alpha": alpha, "lam": 0.0}
        if isinstance(layers[0], LoRALinear) and (layers[0].n_chunks > 1):
            if len({layer.n_chunks for layer in layers}) != 1:
                raise AdapterConfigError(f"combine_adapters: layer {lname!r} is split into different chunks")
            letters = "abcdefghijklmnopqrstuvwxyz"[:layers[0].n_chunks]
            chosen = sorted({c for layer in layers for c in layer.selected})
            fused[lname] = f"{letters}->{''.join(letters[c] for c in chosen)}"
    cfg = AdapterConfig(method=first.method, rank=1, lam=0.0, scaling=first.scaling, targets=list(by_layer),
                        overrides=overrides, fused=fused, modules_to_save=list(saved), conv_path=first.conv_path)
    plan = inject(model, cfg, name=name)
    combined = dict(adapter_layers(model, name))
    with torch.no_grad():
        for lname, layers in by_layer.items():
            _fill(combined[lname], [(layer, mix[layer.adapter_name] * layer.scale) for layer in layers])
        reg = named_adapters(model)
        for m, owner in saved.items():
            src = (model.get_submodule(m).state_dict() if reg.live.get(m) == owner else reg.stored[(owner, m)])
            for k, v in reg.stored[(name, m)].items():
                v.copy_(src[k])
    return plan


def _fill(target, parts: list[tuple[object, float]]) -> None:
    """Write the concatenated factors of ``parts`` (layer, weight * scale) into ``target`` (scale 1)."""
    if isinstance(target, CPConv):
        target.U.copy_(torch.cat([layer.U * c for layer, c in parts], dim=1))
        for f in ["V"] + [f"K{i + 1}" for i in range(target.ndim)]:
            getattr(target, f).copy_(torch.cat([getattr(layer, f) for layer, _ in parts], dim=1))
    elif isinstance(target, FlatLoRAConv):
        target.A.copy_(torch.cat([layer.A for layer, _ in parts], dim=0))
        target.B.copy_(torch.cat([layer.B * c for layer, c in parts], dim=1))
    else:  # LoRALinear: per output chunk of the target, each part's block or zeros
        a_blocks, b_blocks = [], []
        for c in target.selected:
            a_row, b_row = [], []
            for layer, coef in parts:
                a, b = layer._blocks()  # n x R x in, n x chunk x R
                j = layer.selected.index(c) if c in layer.selected else None
                a_row.append(a[j] if j is not None else a.new_zeros(a.shape[1:]))
                b_row.append(b[j] * coef if j is not None else b.new_zeros(b.shape[1:]))
            a_blocks.append(torch.cat(a_row, dim=0))
            b_blocks.append(torch.cat(b_row, dim=1))
        target.A.copy_(torch.cat(a_blocks, dim=0))
        target.B.copy_(torch.cat(b_blocks, dim=0))
