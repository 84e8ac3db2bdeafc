"""Use a trained adapter where users already are, exactly:

* ``peft``: a PEFT LoRA folder for ``PeftModel.from_pretrained(base, folder)``;
* ``kohya``: one kohya LoCon safetensors file (SDXL) for ComfyUI, A1111, diffusers'
  ``load_lora_weights`` and LyCORIS, with ``sgm`` or ``diffusers`` key names;
* ``merged``: the base with every update folded in, in the base's own format.

A rank-R CP conv update is exactly a rank-R LoRA conv pair (``lowrank.py``), so no custom loader is
needed. Every export writes ``export_report.json``: what was exported and what was not, and why;
with ``strict=True`` a layer left out is a ValueError naming it, raised before anything is written.

    from lava_vision.export import export
    report = export(model, "out/peft", "peft")
"""
from __future__ import annotations

import os

from torch import nn

from .coverage import export_coverage
from .kohya import export_kohya, kohya_state_dict
from .lowrank import LowRank, lowrank_form
from .merged import export_merged, merged_report, merged_view
from .peft_folder import export_peft, peft_state_dict
from .report import REPORT_NAME, ExportReport

FORMATS = ("peft", "kohya", "merged")


def export(model: nn.Module, directory: str | os.PathLike, format: str, **options) -> ExportReport:  # noqa: A002
    """Export an adapted ``model`` into ``directory`` as ``format`` (peft | kohya | merged); options go
    to ``export_peft`` / ``export_kohya`` / ``export_merged``. Returns the report it also writes."""
    writers = {"peft": export_peft, "kohya": export_kohya, "merged": export_merged}
    if format not in writers:
        raise ValueError(f"export format {format!r}: expected one of {FORMATS}")
    return writers[format](model, directory, **options)


def planned_report(model: nn.Module, format: str, *, naming: str = "sgm", tucker: bool = False,  # noqa: A002
                   clip_paths: str = "transformers4", **_: object) -> ExportReport:
    """What ``export(model, ..., format, **options)`` would export and leave out, writing nothing (the
    options that decide it are kohya's ``naming``, ``tucker`` and ``clip_paths``; the others are ignored)."""
    if format not in FORMATS:
        raise ValueError(f"export format {format!r}: expected one of {FORMATS}")
    if format == "peft":
        return peft_state_dict(model)[-1]
    if format == "kohya":
        return kohya_state_dict(model, naming, tucker, clip_paths)[1]
    return merged_report(model)


__all__ = ["ExportReport", "FORMATS", "LowRank", "REPORT_NAME", "export", "export_coverage", "export_kohya",
           "export_merged", "export_peft", "kohya_state_dict", "lowrank_form", "merged_report", "merged_view",
           "peft_state_dict", "planned_report"]
