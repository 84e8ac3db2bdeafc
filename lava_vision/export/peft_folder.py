"""A PEFT LoRA folder (``adapter_model.safetensors`` + ``adapter_config.json``) that
``peft.PeftModel.from_pretrained(base, folder)`` loads onto the plain base model.

Every layer with an exact LoRA pair (``lowrank.lowrank_form``) is written as PEFT's
``lora_A`` / ``lora_B`` (a k x k conv c_in -> R and a 1 x 1 conv R -> c_out for convolutions),
with ``lora_alpha = r`` per layer so PEFT's scale is 1 (the adapter scale is folded into
``lora_B``). ``modules_to_save`` are written as PEFT's modules_to_save. The config is written by
``peft.LoraConfig.save_pretrained``.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import save
from torch import nn

from ..adapters import adapter_layers, injection_state
from ..adapters.io import atomic_write_bytes
from .lowrank import lowrank_form, weight_note
from .report import ExportReport

WEIGHTS_NAME = "adapter_model.safetensors"
PREFIX = "base_model.model."


def _plain_module_names(model: nn.Module, adapted: set[str]) -> list[str]:
    """Module names of the model as PEFT will see it: the base, without adapter internals."""
    return [n for n, _ in model.named_modules(remove_duplicate=False)
            if n and not any(n.startswith(a + ".") for a in adapted)]


def _saved_modules(model: nn.Module, saved: list[str], exported: set[str], adapted: set[str],
                   report: ExportReport) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """Tensors and config entry for ``modules_to_save``. PEFT wraps every module whose name *ends*
    with a listed name, so modules caught by that suffix rule are written too (their current, base
    weights); a clash with an adapted layer is refused."""
    if not saved:
        return {}, None
    names = _plain_module_names(model, adapted)
    wrapped = sorted({n for n in names if any(n.endswith(s) for s in saved)})
    clash = [n for n in wrapped if any(n == a or n.startswith(a + ".") or a.startswith(n + ".")
                                       for a in adapted)]
    if clash:
        for s in saved:
            report.not_exported[s] = (f"modules_to_save: PEFT matches module names by suffix, so {s!r} would "
                                      f"also wrap the adapted layer {clash[0]!r}")
        return {}, None
    tensors = {}
    for n in wrapped:
        for k, v in model.get_submodule(n).state_dict().items():
            tensors[f"{PREFIX}{n}.{k}"] = v.detach().cpu().contiguous()
    for s in saved:
        report.exported[s] = "modules_to_save (full weights)"
    extra = [n for n in wrapped if n not in saved]
    if extra:
        report.notes.append(f"PEFT's suffix match also wraps {extra}; their unchanged base weights are included")
    return tensors, list(saved)


def peft_state_dict(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, int], list[str] | None,
                                                ExportReport]:
    """(tensors under PEFT keys, {layer: rank}, modules_to_save for the config, report) of an adapted
    model; layers without an exact PEFT form are in ``report.not_exported`` with the reason."""
    state = injection_state(model)
    method = state.config.method
    if method in ("full", "frozen"):
        raise ValueError(f"adapter.method={method!r} has no low-rank adapter to write as PEFT LoRA; "
                         "export it with format 'merged'")
    report = ExportReport(format="peft")
    tensors: dict[str, torch.Tensor] = {}
    ranks: dict[str, int] = {}
    layers = dict(adapter_layers(model))
    for name, layer in layers.items():
        pair = lowrank_form(layer)
        if isinstance(pair, str):
            report.not_exported[name] = pair
            continue
        tensors[f"{PREFIX}{name}.lora_A.weight"] = pair.down
        tensors[f"{PREFIX}{name}.lora_B.weight"] = pair.up
        ranks[name] = pair.rank
        report.exported[name] = f"{type(layer).__name__} -> LoRA rank {pair.rank}"
    if (note := weight_note(model)) is not None:
        report.notes.append(note)
    saved_tensors, saved = _saved_modules(model, state.plan.saved_modules, set(ranks), set(layers), report)
    tensors.update(saved_tensors)
    return tensors, ranks, saved, report


def export_peft(model: nn.Module, directory: str | os.PathLike, *, dtype: torch.dtype | None = None,
                base_model_name_or_path: str | None = None, source: str = "", strict: bool = False
                ) -> ExportReport:
    """Write ``model``'s adapters as a PEFT LoRA folder in ``directory``; return the report (also
    written there as ``export_report.json``). Layers without an exact pair are listed, not written;
    with ``strict`` they are a ValueError naming them, raised before anything is written.
    ``dtype``: cast the written tensors (default: the adapters' own dtype)."""
    from peft import LoraConfig

    tensors, ranks, saved, report = peft_state_dict(model)
    if strict:
        report.require_exact()
    if not ranks:
        raise ValueError("no adapter layer of this model has an exact PEFT LoRA form: "
                         + "; ".join(f"{k}: {v}" for k, v in report.not_exported.items()))
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    report.source = source
    report.dtype = str(next(iter(tensors.values())).dtype).removeprefix("torch.")
    r = Counter(ranks.values()).most_common(1)[0][0]
    config = LoraConfig(
        r=r, lora_alpha=r, lora_dropout=0.0, bias="none", init_lora_weights=True, inference_mode=True,
        # a string is a full-match regex for PEFT (a list would also match any ".name" suffix)
        target_modules="(" + "|".join(re.escape(k) for k in sorted(ranks)) + ")",
        rank_pattern={f"^{re.escape(k)}$": v for k, v in ranks.items()},
        alpha_pattern={f"^{re.escape(k)}$": v for k, v in ranks.items()},
        modules_to_save=saved, base_model_name_or_path=base_model_name_or_path)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / WEIGHTS_NAME,
                       save({k: v.contiguous() for k, v in tensors.items()}, metadata={"format": "pt"}))
    config.save_pretrained(str(directory))
    report.files = [WEIGHTS_NAME, "adapter_config.json"]
    report.notes.append("load: peft.PeftModel.from_pretrained(base_model, folder); lora_alpha = r for every "
                        "layer (scale 1), the adapter scale is folded into lora_B")
    report.write(directory)
    return report
