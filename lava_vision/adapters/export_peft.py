"""Export the LoRA-form linear adapters as a PEFT LoRA folder.

A LoRALinear stores A (``R x in``) and B (``out x R``) in PEFT's own layout and scale
(alpha / R, or alpha / sqrt(R) as PEFT's ``use_rslora``), so the export is a renaming. What has
no PEFT equivalent is left out and reported: CP conv updates (PEFT's conv LoRA flattens the
kernel), fused-chunk linears, and ``modules_to_save``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from safetensors.torch import save
from torch import nn

from .injector import adapter_layers, injection_state
from .io import atomic_write_bytes
from .linear import LoRALinear


def export_peft_lora(model: nn.Module, directory: str | os.PathLike,
                     base_model_name_or_path: str | None = None) -> list[str]:
    """Write ``adapter_model.safetensors`` + ``adapter_config.json`` loadable by
    ``peft.PeftModel.from_pretrained(base, directory)``; return the names of what was left out."""
    state = injection_state(model)
    cfg = state.config
    tensors, ranks, alphas, skipped = {}, {}, {}, []
    for name, layer in adapter_layers(model):
        if not isinstance(layer, LoRALinear) or layer.out_index is not None:
            skipped.append(f"{name} ({type(layer).__name__}{', fused chunks' if isinstance(layer, LoRALinear) else ''})")
            continue
        tensors[f"base_model.model.{name}.lora_A.weight"] = layer.A.detach().cpu().contiguous()
        tensors[f"base_model.model.{name}.lora_B.weight"] = layer.B.detach().cpu().contiguous()
        ranks[name], alphas[name] = layer.rank, layer.alpha
    if not tensors:
        raise ValueError("no plain (unfused) LoRA-form linear adapters to export: " + ", ".join(skipped))
    skipped += [f"{m} (modules_to_save)" for m in state.plan.saved_modules]
    doc = {
        "peft_type": "LORA", "task_type": None, "base_model_name_or_path": base_model_name_or_path,
        "r": cfg.rank, "lora_alpha": cfg.alpha if cfg.alpha is not None else cfg.rank, "use_rslora": cfg.scaling == "rslora",
        # a string is a full-match regex for PEFT (a list would also match any ".name" suffix)
        "target_modules": "(" + "|".join(re.escape(k) for k in sorted(ranks)) + ")",
        "rank_pattern": {f"^{re.escape(k)}$": v for k, v in ranks.items()},
        "alpha_pattern": {f"^{re.escape(k)}$": v for k, v in alphas.items()},
        "lora_dropout": cfg.dropout, "bias": "none", "fan_in_fan_out": False, "modules_to_save": None,
        "init_lora_weights": True, "inference_mode": True,
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / "adapter_model.safetensors", save(tensors))
    atomic_write_bytes(directory / "adapter_config.json", json.dumps(doc, indent=2).encode())
    return skipped
