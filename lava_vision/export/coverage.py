"""Which formats hold which layers of an adapted model, without writing anything (for model cards)."""
from __future__ import annotations

from torch import nn

from .kohya import kohya_state_dict
from .peft_folder import peft_state_dict


def export_coverage(model: nn.Module) -> dict[str, dict[str, str] | str]:
    """``{format: {layer: why it is left out}}`` for peft, kohya and merged (which holds every
    layer); a format that cannot export this model at all maps to the reason (a string) instead."""
    out: dict[str, dict[str, str] | str] = {}
    for fmt, build in (("peft", peft_state_dict), ("kohya", kohya_state_dict)):
        try:
            report = build(model)[-1]
        except ValueError as e:
            out[fmt] = str(e)
            continue
        out[fmt] = report.not_exported if report.exported else "no layer has an exact form: " + "; ".join(
            f"{k}: {v}" for k, v in report.not_exported.items())
    out["merged"] = {}
    return out
