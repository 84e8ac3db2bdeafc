#!/usr/bin/env python
"""The tables of docs/studies-full-budget.md from the committed per-run CSVs of studies/full_budget.sh:
per cell its trainable parameters, top-1 % on the report part (mean ± std over seeds), and the paired
difference to the default on the same seeds with wins / ties / losses (lava_vision.analysis.seeds).

    PYTHONPATH=. .venv/bin/python studies/full_budget_tables.py
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lava_vision.analysis.seeds import over_seeds, paired  # noqa: E402

RESULTS = ROOT / "studies" / "results"
CELLS = {  # run-name suffix -> what the cell is
    "new": "**default**: U = 0, normal, λ = 0, s = 2, head trained",
    "paper": "paper's setting: V = 0, orthonormal, λ = 0.1, s = 1",
    "lora_peft": "flattening LoRA r1, PEFT init (A kaiming-uniform), s = 2",
    "lora_normal": "flattening LoRA r1, A ~ N(0, 1/fan_in), s = 2",
    "s4": "default at s = 4 (alpha = 4R)",
    "s8": "default at s = 8 (alpha = 8R)",
    "convs": "default on the convs only (base head kept: mixable)",
    "s4_convs": "s = 4 on the convs only",
    "frozen": "head only (method frozen)",
    "full": "full fine-tuning",
}


def params(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row["run"].rsplit("__seed", 1)[0]: row["trainable_params"] for row in csv.DictReader(f)}


def table(path: Path, prefix: str) -> str:
    stats = over_seeds([path], "top1")
    by = {s.setting: s for s in stats}
    pairs = {p.setting: p for p in paired(stats, f"{prefix}_new_")}
    n_params = params(path)
    lines = ["| cell | trainable params | top-1 % (report) mean ± std | seeds | − default, paired "
             "| wins / ties / losses |", "|---|---:|---:|---:|---:|---:|"]
    for suffix, label in CELLS.items():
        s = by.get(f"{prefix}_{suffix}_")
        if s is None:
            continue
        p = pairs.get(s.setting)
        diff = f"{100 * p.mean:+.1f} ± {100 * p.std:.1f}" if p else "—"
        record = " / ".join(map(str, p.record())) if p else "—"
        lines.append(f"| {label} | {int(n_params[f'{prefix}_{suffix}']):,} | {100 * s.mean:.1f} ± {100 * s.std:.1f} "
                     f"| {len(s.values)} | {diff} | {record} |")
    return "\n".join(lines)


def main() -> None:
    for name, prefix in (("gaussian_noise", "gaussian_noise"), ("defocus_blur", "defocus_blur"),
                         ("contrast", "contrast"), ("r32_gaussian_noise", "r32_gaussian_noise")):
        path = RESULTS / f"full_budget_{name}.csv"
        if path.is_file():
            print(f"### {name}\n\n{table(path, prefix)}\n")


if __name__ == "__main__":
    main()
