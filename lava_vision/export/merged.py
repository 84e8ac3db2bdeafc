"""The base model with every update folded in (W + dW), saved in the base's own format: a
``save_pretrained`` folder where the model (or each changed component, e.g. SDXL's UNet and text
encoders) has one, else one safetensors state dict whose keys are the base model's own."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ..adapters import adapter_layers, injection_state
from ..adapters.adapter_set import MERGED_ATTR, adapter_slots, members
from .lowrank import mix_weight, weight_note
from .report import ExportReport

STATE_DICT_NAME = "model.safetensors"


def _swap(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


@contextlib.contextmanager
def merged_view(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block ``model`` is the plain base with what it computes merged: every adapted
    position (every adapter's, active or not) holds its base layer, whose weight is W + sum_i w_i dW_i
    over the updates the model runs there (w_i: the weight ``set_adapter`` gave; inactive and
    disabled adapters add nothing; a merged one is already in W). On exit the adapters and the
    original weight tensors come back untouched (no W + dW - dW rounding)."""
    swapped: list[tuple[str, nn.Module, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for name, slot in list(adapter_slots(model)):
                if MERGED_ATTR in slot.base_layer.__dict__:  # merge() put the base layer, W + w dW, in place
                    continue
                w = slot.base_layer.weight
                original = w.data
                live = [layer for layer in members(slot) if layer.contributes]
                if live:
                    total = live[0].delta_weight() * mix_weight(live[0])
                    for layer in live[1:]:
                        total = total + layer.delta_weight() * mix_weight(layer)
                    w.data = original + total.to(original.dtype)
                swapped.append((name, slot, original))
                _swap(model, name, slot.base_layer)
        yield model
    finally:
        for name, slot, original in reversed(swapped):
            slot.base_layer.weight.data = original
            _swap(model, name, slot)


def _changed_roots(model: nn.Module) -> list[str]:
    """Names of the adapted layers and modules_to_save (what differs from the base)."""
    state = injection_state(model)
    if state.config.method == "full":
        return [n for n, _ in model.named_children()]
    return [n for n, _ in adapter_layers(model)] + list(state.plan.saved_modules)


def _components(model: nn.Module, changed: list[str]) -> list[tuple[str, nn.Module]]:
    """(subfolder, module) pairs to write: the model itself if it has ``save_pretrained``; else
    its ``save_pretrained`` children that hold a change (SDXL: unet, text_encoder, ...); else
    the whole model as a state dict (subfolder "")."""
    if hasattr(model, "save_pretrained"):
        return [("", model)]
    children = [(n, m) for n, m in model.named_children() if hasattr(m, "save_pretrained")]
    covered = all(any(c == n or c.startswith(n + ".") for n, _ in children) for c in changed)
    if children and covered:
        return [(n, m) for n, m in children if any(c == n or c.startswith(n + ".") for c in changed)]
    return []


def _state_dict_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """CPU state dict; tensors that share storage (tied weights) are copied so safetensors takes them."""
    out, seen = {}, set()
    for k, v in module.state_dict().items():
        t = v.detach().cpu()
        ptr = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        out[k] = t.clone() if ptr in seen or not t.is_contiguous() else t
        seen.add(ptr)
    return out


def merged_report(model: nn.Module) -> ExportReport:
    """The report of a merged export of ``model`` (every layer: a merged model holds them all), unwritten."""
    state = injection_state(model)
    report = ExportReport(format="merged")
    for name, layer in adapter_layers(model):
        report.exported[name] = f"{type(layer).__name__}: W + dW"
    for s in state.plan.saved_modules:
        report.exported[s] = "modules_to_save: trained weights"
    if (note := weight_note(model)) is not None:
        report.notes.append(note)
    if state.config.method == "full":
        report.exported["*"] = "full fine-tuning: every weight as trained"
    return report


def export_merged(model: nn.Module, directory: str | os.PathLike, *, source: str = "",
                  strict: bool = False) -> ExportReport:
    """Write ``model`` with every update merged into ``directory`` in the base's format (see module
    doc); ``model`` itself is left as it was. Returns the report (also written as
    ``export_report.json``). Weights keep the base's dtype. ``strict`` is checked before writing as
    for the other formats (a merged model holds every layer, so it never refuses)."""
    changed = _changed_roots(model)
    report = merged_report(model)
    report.source = source
    if strict:
        report.require_exact()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with merged_view(model):
        parts = _components(model, changed)
        for sub, module in parts:
            target = directory / sub if sub else directory
            module.save_pretrained(str(target))
            report.files += sorted(str(p.relative_to(directory)) for p in target.iterdir()
                                   if p.is_file() and p.name != "export_report.json")
            report.notes.append(f"{sub or 'model'}: {type(module).__name__}.from_pretrained('{target}')")
        if not parts:
            save_file(_state_dict_tensors(model), str(directory / STATE_DICT_NAME), metadata={"format": "pt"})
            report.files.append(STATE_DICT_NAME)
            report.notes.append(f"{STATE_DICT_NAME}: the {type(model).__name__} state dict (the base model's own "
                                "keys); load with model.load_state_dict(safetensors.torch.load_file(path))")
        report.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    report.write(directory)
    return report
