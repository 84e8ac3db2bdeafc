"""One kohya / LyCORIS LoCon safetensors file for an adapted SDXL, read by ComfyUI, A1111,
diffusers' ``load_lora_weights`` and LyCORIS.

Per layer ``<key>.lora_down.weight``, ``<key>.lora_up.weight`` and ``<key>.alpha``; loaders compute
dW = (alpha / rank) * up . down (conv: ``down`` is a k x k conv c_in -> R, ``up`` a 1 x 1 conv). The
pairs come from ``lowrank.lowrank_form`` with the adapter scale folded into ``up`` and alpha is
written equal to the rank, so every loader's scale is exactly 1. CP convs are plain LoCon pairs by
default; ``tucker=True`` writes LyCORIS' ``lora_mid`` core instead (diffusers refuses that key).
Key names come from ``tasks.text2image.export.kohya_namer`` (``sgm`` or ``diffusers`` naming).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import save
from torch import nn

from ..adapters import adapter_layers, injection_state
from ..adapters.io import atomic_write_bytes
from .lowrank import lowrank_form, weight_note
from .report import ExportReport


def kohya_state_dict(model: nn.Module, naming: str = "sgm", tucker: bool = False, clip_paths: str = "transformers4"
                     ) -> tuple[dict[str, torch.Tensor], ExportReport]:
    """(tensors under kohya keys, report) for an adapted SDXL; layers without an exact kohya form
    are in ``report.not_exported`` with the reason. ``clip_paths``: see ``kohya_namer``."""
    from ..tasks.text2image.export import kohya_namer

    state = injection_state(model)
    if state.config.method in ("full", "frozen"):
        raise ValueError(f"adapter.method={state.config.method!r} has no low-rank adapter to write as a kohya "
                         "LoRA; export it with format 'merged'")
    namer = kohya_namer(model, naming, clip_paths)
    report = ExportReport(format="kohya", options={"naming": naming, "tucker": tucker, "clip_paths": clip_paths})
    tensors: dict[str, torch.Tensor] = {}
    for name, layer in adapter_layers(model):
        if getattr(layer, "ndim", 2) != 2:
            report.not_exported[name] = f"{type(layer.base_layer).__name__}: kohya LoCon has 2-D convolutions only"
            continue
        try:
            key = namer(name)
        except ValueError as e:
            report.not_exported[name] = str(e)
            continue
        pair = lowrank_form(layer, tucker=tucker)
        if isinstance(pair, str):
            report.not_exported[name] = pair
            continue
        tensors[f"{key}.lora_down.weight"] = pair.down
        tensors[f"{key}.lora_up.weight"] = pair.up
        if pair.mid is not None:
            tensors[f"{key}.lora_mid.weight"] = pair.mid
        tensors[f"{key}.alpha"] = torch.tensor(float(pair.rank))
        report.exported[name] = f"{key} (rank {pair.rank}{', Tucker core' if pair.mid is not None else ''})"
    if (note := weight_note(model)) is not None:
        report.notes.append(note)
    for s in state.plan.saved_modules:
        report.not_exported[s] = "modules_to_save (full weights): kohya LoRA files hold low-rank updates only"
    for te in ("lora_te1", "lora_te2"):  # diffusers infers the text-encoder key format from out_proj
        attn = [k for k in tensors if k.startswith(te + "_") and "_self_attn_" in k]
        if attn and not any("_self_attn_out_proj." in k for k in attn):
            report.notes.append(f"{te}: attention adapted without out_proj; diffusers' load_lora_weights then "
                                "fails ('Could not automatically infer state dict type'); ComfyUI, A1111 and "
                                "LyCORIS read it")
    return tensors, report


def export_kohya(model: nn.Module, directory: str | os.PathLike, *, naming: str = "sgm", tucker: bool = False,
                 dtype: torch.dtype | None = None, filename: str = "lora.safetensors",
                 source: str = "", strict: bool = False, clip_paths: str = "transformers4") -> ExportReport:
    """Write ``directory/filename`` (kohya LoCon layout) and ``export_report.json``; return the report.
    ``dtype`` casts the factors (default: their own dtype); ``alpha`` stays float32. ``strict``:
    raise ValueError naming the layers without an exact kohya form, before writing anything.
    ``clip_paths="installed"``: text-encoder keys by the installed transformers' module paths, for
    LyCORIS' ``create_lycoris_from_weights`` under transformers 5 (see ``kohya_namer``)."""
    tensors, report = kohya_state_dict(model, naming, tucker, clip_paths)
    if strict:
        report.require_exact()
    if not tensors:
        raise ValueError("no adapter layer of this model has an exact kohya form: "
                         + "; ".join(f"{k}: {v}" for k, v in report.not_exported.items()))
    if dtype is not None:
        tensors = {k: v if k.endswith(".alpha") else v.to(dtype) for k, v in tensors.items()}
    report.source = source
    report.dtype = str(next(v for k, v in tensors.items() if not k.endswith(".alpha")).dtype).removeprefix("torch.")
    directory = Path(directory)
    meta = {"format": "pt", "lava_vision_export": "kohya LoCon; alpha = rank, adapter scale folded into lora_up",
            "lava_vision_naming": naming, "lava_vision_clip_paths": clip_paths}
    atomic_write_bytes(directory / filename, save(tensors, metadata=meta))
    report.files = [filename]
    where = ("ComfyUI: models/loras/, A1111: models/Lora/; " if naming == "sgm" else
             "LyCORIS: lycoris.wrapper.create_lycoris_from_weights(1.0, file, part) per part, LORA_PREFIX "
             "lora_unet / lora_te1 / lora_te2 (on transformers 5 with clip_paths='installed'); ")
    report.notes.append(where + "diffusers: StableDiffusionXLPipeline.load_lora_weights(file)"
                        + ("" if diffusers_loadable(tensors) else " refuses lora_mid (Tucker) keys"))
    report.write(directory)
    return report


def diffusers_loadable(tensors: dict[str, torch.Tensor]) -> bool:
    """True when no key is a LyCORIS Tucker core (``lora_mid``), i.e. diffusers can load the file."""
    return not any(".lora_mid." in k for k in tensors)
