#!/usr/bin/env python
"""Write picture panels of a trained adapter's predictions, and a per-image metrics CSV (worst first)."""
from __future__ import annotations

import csv
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/visualize.py tasks/depth_nyu.py --adapter runs/depth_nyu --num 16 --out out/depth_pictures
  python tools/visualize.py tasks/depth_nyu.py --no-adapter --num 8 --out out/base_pictures
  python tools/visualize.py --zoo quickstart --num 8 --out out/quickstart   # a published zoo entry

Writes one PNG panel per image into --out (drawn by the task), and per_sample_metrics.csv sorted
worst-first by --sort-by (default: the recipe's eval.main_metric) when the task reports per-image metrics.
With an adapter, depth and segmentation panels also show the frozen base's prediction of the same image
(adapters bypassed; not drawn for full fine-tuning or modules_to_save, whose base is not in memory)."""


def main() -> None:
    p = _common.parser("tools/visualize.py", "Draw predictions of a trained adapter (or of the base model) as "
                       "PNG panels.", EXAMPLES, zoo=True)
    _common.add_adapter_args(p)
    p.add_argument("--num", type=int, default=8, help="number of images (default 8)")
    p.add_argument("--out", required=True, help="output folder for the PNG panels and the CSV")
    p.add_argument("--sort-by", default=None, help="per-image metric that orders the CSV (default: eval.main_metric)")
    p.add_argument("--mode", choices=("max", "min"), default=None,
                   help="max: higher is better, so lowest first (default: the recipe's eval.mode)")
    p.add_argument("--no-base-column", action="store_true",
                   help="do not draw the base model's prediction next to the adapted one (saves its forward)")
    args = p.parse_args()
    if sum(map(bool, (args.adapter, args.no_adapter, args.zoo))) != 1:
        p.error("give one of --adapter RUN_OR_DIR, --no-adapter and --zoo NAME (run the tool twice to compare)")
    cfg = _common.load_config(args)
    from lava_vision.train import build_base, distributed_state, load_trained, predictions, resolve_precision
    from lava_vision.train.evaluation import base_predictions

    if args.zoo:
        from lava_vision import zoo

        entry = zoo.load(args.zoo, args.zoo_root, config=cfg)  # hashes and base weights verified
        task, model = entry.task, entry.model
    else:
        task, model = load_trained(cfg, args.adapter) if args.adapter else build_base(cfg)
    device = distributed_state().device
    precision = resolve_precision(cfg.train.precision, device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    n_pictures = 0
    for batch, preds in predictions(task, model.to(device), args.split or cfg.eval.split, 1, args.num,
                                    precision=precision, desc="visualize"):
        base = None if args.no_base_column else base_predictions(task, model, batch, precision)
        paths = task.visualize(batch, preds, out, n_pictures, **({"base_preds": base} if base is not None else {}))
        n_pictures += len(paths)
        if hasattr(task, "per_sample_metrics"):
            for row, path in zip(task.per_sample_metrics(preds, batch), paths):
                rows.append({**row, "picture": Path(path).name})
    print(f"wrote {n_pictures} panels into {out}")
    if rows:
        write_csv(rows, out / "per_sample_metrics.csv", args.sort_by or cfg.eval.main_metric,
                  args.mode or cfg.eval.mode)


def write_csv(rows: list[dict], path: Path, key: str, mode: str) -> None:
    """Rows sorted worst-first by ``key`` (for mode max the lowest first); first numeric column if no key."""
    numeric = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if key not in numeric:
        if key:
            print(f"note: per-image metrics have no {key!r}; sorting by {numeric[0] if numeric else 'nothing'}")
        key = numeric[0] if numeric else ""
    if key:
        rows = sorted(rows, key=lambda r: r[key], reverse=(mode == "min"))
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path} (worst first by {key or 'input order'})")


if __name__ == "__main__":
    _common.run_tool(main)
