"""studies/full_budget_tables.py turns the study's per-run CSVs into the tables of
docs/studies-full-budget.md; checked here on a hand-made CSV whose means, sample standard deviations
and paired differences are worked out by hand in the comments."""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tables_module():
    spec = importlib.util.spec_from_file_location("full_budget_tables", ROOT / "studies" / "full_budget_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_are_mean_std_and_paired_differences_to_the_default(tmp_path):
    runs = [("new", 0, 0.70), ("new", 1, 0.72), ("new", 2, 0.74),          # 72.0 ± 2.0
            ("paper", 0, 0.66), ("paper", 1, 0.69), ("paper", 2, 0.69),    # 68.0 ± sqrt(3) = 1.7
            ("s4", 1, 0.71), ("s4", 0, 0.73)]                              # 72.0 ± sqrt(2) = 1.4, seeds 0 and 1 only
    path = tmp_path / "full_budget_gaussian_noise.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["run", "trainable_params", "top1"])
        w.writeheader()
        for cell, seed, top1 in runs:
            w.writerow({"run": f"gaussian_noise_{cell}__seed{seed}", "trainable_params": 5716, "top1": top1})
    lines = tables_module().table(path, "gaussian_noise").splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert len(rows) == 3
    assert rows["**default**: U = 0, normal, λ = 0, s = 2, head trained"].endswith("| 5,716 | 72.0 ± 2.0 | 3 | — | — |")
    # paper − default per seed: −4, −3, −5 -> mean −4.0, sample std 1.0, no wins
    assert rows["paper's setting: V = 0, orthonormal, λ = 0.1, s = 1"].endswith(
        "| 5,716 | 68.0 ± 1.7 | 3 | -4.0 ± 1.0 | 0 / 0 / 3 |")
    # s = 4 − default on seeds 0, 1 only: +3, −1 -> mean +1.0, sample std 2 sqrt(2) = 2.8
    assert rows["default at s = 4 (alpha = 4R)"].endswith("| 5,716 | 72.0 ± 1.4 | 2 | +1.0 ± 2.8 | 1 / 0 / 1 |")
