#!/usr/bin/env python
"""Evaluate a trained adapter (and/or the base model) on a split; print a table, write JSON."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/eval.py runs/depth_nyu --split test          # the run's own config.json; best/ (chosen on val)
  python tools/eval.py tasks/depth_nyu.py --adapter runs/depth_nyu --split test   # the same from the recipe
  python tools/eval.py tasks/depth_nyu.py --adapter runs/depth_nyu --no-adapter   # before | after | delta
  python tools/eval.py tasks/depth_nyu.py --no-adapter --out base_metrics.json
  python tools/eval.py --zoo quickstart                   # recorded | now | delta, for a zoo entry (its split)
  python tools/eval.py --zoo quickstart --no-adapter      # its base model | the entry

It prints which checkpoint it scores (best/ or last/, chosen on which split) and how the task
scores (e.g. segmentation at native size). The JSON goes to --out, else into the adapter's run
folder as eval_<split>.json."""


def output_path(args: argparse.Namespace, adapter_dir: Path | None, split: str) -> Path | None:
    if args.out:
        return Path(args.out)
    if adapter_dir is not None and (adapter_dir.parent / "config.json").is_file():
        return adapter_dir.parent / f"eval_{split}.json"  # adapter_dir is best/ or last/ of a run
    return None


def main() -> None:
    p = _common.parser("tools/eval.py", "Evaluate a trained adapter and/or the base model on a dataset split.",
                       EXAMPLES, zoo=True)
    _common.add_adapter_args(p)
    p.add_argument("--out", help="write the metrics JSON here")
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's eval.batch_size")
    p.add_argument("--max-samples", type=int, default=None, help="evaluate the first N samples (default: "
                   "the recipe's eval.max_samples; 0 = all)")
    args = p.parse_args()
    if args.recipe and Path(args.recipe).is_dir():  # tools/eval.py runs/NAME: the run's config.json and adapter
        if args.adapter:
            p.error(f"{args.recipe} is a run folder; give it alone or as --adapter, with or without a RECIPE")
        args.adapter, args.recipe = args.recipe, None
    if not args.adapter and not args.no_adapter and not args.zoo:
        p.error("give --adapter RUN_OR_DIR, --no-adapter, or both (or --zoo NAME)")
    if args.adapter and args.zoo:
        p.error("give --adapter or --zoo, not both")
    cfg = _common.load_config(args)
    from lava_vision.train import (
        build_base,
        distributed_state,
        evaluate,
        find_adapter_dir,
        load_trained,
        resolve_precision,
    )
    from lava_vision.train.protocol import describe_checkpoint

    adapter_dir = find_adapter_dir(args.adapter) if args.adapter else None
    checkpoint, selection = describe_checkpoint(adapter_dir) if adapter_dir else (None, None)
    split = args.split or cfg.eval.split
    if args.zoo and not args.split:  # reproduce the card: the split its metrics were recorded on
        from lava_vision.zoo.index import get_entry, zoo_root

        split = get_entry(args.zoo, zoo_root(args.zoo_root)).get("split") or split
    device = distributed_state().device
    opts = dict(split=split, batch_size=args.batch_size or cfg.eval.batch_size,
                max_samples=cfg.eval.max_samples if args.max_samples is None else args.max_samples,
                precision=resolve_precision(cfg.train.precision, device))
    results: dict[str, dict[str, float]] = {}
    if args.no_adapter:
        task, model = build_base(cfg)
        results["before"] = evaluate(task, model.to(device), **opts)
    if adapter_dir is not None:
        task, model = load_trained(cfg, adapter_dir)
        results["after"] = evaluate(task, model.to(device), **opts)
    if args.zoo:
        from lava_vision import zoo

        entry = zoo.load(args.zoo, args.zoo_root, config=cfg)  # hashes and base weights verified
        task = entry.task
        recorded = entry.record
        if not args.no_adapter and recorded["split"] == split and recorded["max_samples"] == opts["max_samples"]:
            results["recorded"] = recorded["metrics"]
        results[args.zoo] = evaluate(entry.task, entry.model.to(device), **opts)
    if not _common.is_main_process():
        return
    source = f", adapter {adapter_dir}" if adapter_dir else (f", zoo entry {args.zoo}" if args.zoo else "")
    print(f"{cfg.task} on split {split!r}" + source)
    if checkpoint:
        print(f"checkpoint: {checkpoint}")
        if selection and selection.get("split") == split:
            print(f"note: this checkpoint was chosen on {split!r}, so its {split!r} numbers are optimistic; "
                  "report a split it was not chosen on (e.g. --split test)")
    scoring = task.scoring() if hasattr(task, "scoring") else None
    if scoring:
        print(f"scoring: {scoring}")
    print(_common.metrics_table(results))
    out = output_path(args, adapter_dir, split)
    if out is not None:
        doc = {"task": cfg.task, "split": split, "max_samples": opts["max_samples"],
               "adapter": str(adapter_dir) if adapter_dir else None, "checkpoint": checkpoint, "selection": selection,
               "scoring": scoring, "zoo": args.zoo, **results}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    _common.run_tool(main)
