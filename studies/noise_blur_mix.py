#!/usr/bin/env python
"""Issue #27: do two corruption adapters on one base mix? Photos with defocus blur AND gaussian noise
(severity 5, blur first; data.corruption=defocus_blur+gaussian_noise), scored on the report part for:
the frozen base, the noise adapter alone, the blur adapter alone, their mix at weights (1, 1), their
mix at the weights chosen on the select part (a grid), and an adapter trained on the combination.

The adapters are studies/full_budget.sh's convs-only runs (the base's head kept, so they share every
non-adapter weight and can be mixed): <root>/gaussian_noise_convs__seedS, defocus_blur_convs__seedS and
noise_blur_convs__seedS, each one's best/ (chosen on the select part of its own corruption). Seed S of
the noise adapter is mixed with seed S of the blur adapter. --noise / --blur name other runs: a noise
adapter that trained its own head mixes with a convs-only blur adapter (one of them saves the head:
the head is shared, the noise adapter's), never with another that saves the head too.

    PYTHONPATH=. .venv/bin/python studies/noise_blur_mix.py --root runs/study_full --seeds 0 1 2 \
        --out studies/results/full_budget_noise_blur_mix.csv
"""
from __future__ import annotations

import argparse
import csv
import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import lava_vision.tasks  # noqa: E402,F401  (registers the classification task)
from lava_vision.adapters import disable_adapters, load_adapter, set_adapter  # noqa: E402
from lava_vision.train import apply_overrides, build_base, evaluate, load_recipe  # noqa: E402

RECIPE = Path(__file__).resolve().parents[1] / "tasks" / "cifar_resnet20_noise.py"
GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)  # each adapter's weight, chosen on the select part


def top1(task, model, split: str) -> float:
    return evaluate(task, model, split, batch_size=500)["top1"]


def score_seed(root: Path, seed: int, noise: str, blur: str, combo: str) -> list[dict]:
    cfg = apply_overrides(load_recipe(RECIPE), ["data.corruption=defocus_blur+gaussian_noise",
                                                "data.cache_images=true"])
    task, model = build_base(cfg)
    model.eval()
    load_adapter(model, root / f"{noise}__seed{seed}" / "best", name="noise")
    load_adapter(model, root / f"{blur}__seed{seed}" / "best", name="blur")
    rows = []

    def row(method: str, weights: dict | None, select: float | None = None) -> None:
        w = weights or {}
        rows.append({"seed": seed, "noise": noise, "blur": blur, "method": method, "w_noise": w.get("noise", 0.0),
                     "w_blur": w.get("blur", 0.0), "select_top1": select,
                     "report_top1": top1(task, model, "test")})
        print(rows[-1], flush=True)

    with torch.no_grad():
        with disable_adapters(model):
            row("base", None)
        for name in ("noise", "blur"):
            set_adapter(model, name)
            row(f"{name} alone", {name: 1.0})
        set_adapter(model, {"noise": 1.0, "blur": 1.0})
        row("mix (1, 1)", {"noise": 1.0, "blur": 1.0})
        best, best_w = -1.0, None
        for wn, wb in itertools.product(GRID, GRID):
            if wn == wb == 0.0:
                continue
            set_adapter(model, {"noise": wn, "blur": wb})
            score = top1(task, model, "val")
            if score > best:
                best, best_w = score, {"noise": wn, "blur": wb}
        set_adapter(model, best_w)
        row("mix, weights chosen on select", best_w, best)
        if combo:
            both = build_base(cfg, task)[1]
            both.eval()
            load_adapter(both, root / f"{combo}__seed{seed}" / "best")
            rows.append({"seed": seed, "noise": noise, "blur": blur, "method": f"trained on noise + blur ({combo})",
                         "w_noise": None, "w_blur": None, "select_top1": None, "report_top1": top1(task, both, "test")})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path("runs/study_full"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--noise", default="gaussian_noise_convs", help="the noise adapter's run name (without __seedS)")
    p.add_argument("--blur", default="defocus_blur_convs", help="the blur adapter's run name (without __seedS)")
    p.add_argument("--combo", default="noise_blur_convs", help="the adapter trained on both ('' : none)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    rows = [r for s in args.seeds for r in score_seed(args.root, s, args.noise, args.blur, args.combo)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
