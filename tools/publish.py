#!/usr/bin/env python
"""Publish a finished run as a zoo entry: adapter files, resolved config, metrics JSON, model card, index."""
from __future__ import annotations

import argparse
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/publish.py runs/quickstart --id quickstart --recipe tasks/quickstart.py
  python tools/publish.py runs/depth_synthetic --id depth-synthetic --recipe tasks/depth_synthetic.py --quick-samples 16
  python tools/publish.py runs/sdxl --id sdxl-icons --reuse-eval --train-command "accelerate launch ..."
  python tools/publish.py runs/study_real/gaussian_noise_new__seed0 --id cifar_resnet20_gaussian_noise \
      --recipe tasks/cifar_resnet20_noise.py --split test \
      --eval-data data.root=lava_vision/assets/cifar10_report_photos "data.split_sizes=[]"

The adapter is the run's best/ (else last/). The run must have been evaluated (the trainer's final
evaluation, or tools/eval.py --adapter RUN); by default the staged entry is evaluated again and must
reproduce those numbers (relative 1e-5). Writes zoo/ID/ and zoo/index.json atomically."""


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/publish.py", description=__doc__, epilog="examples:\n" + EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder (config.json, best/ or last/)")
    p.add_argument("--id", required=True,
                   help="entry name: 1-64 lower-case letters, digits, '_', '-' (also its adapter's name: no '.')")
    p.add_argument("--recipe", help="recipe the run was trained from; the card's training command is this "
                   "recipe plus the --set overrides that rebuild the run's config exactly")
    p.add_argument("--train-command", help="the training command to print on the card (instead of --recipe)")
    p.add_argument("--force", action="store_true", help="replace an existing entry of that name")
    p.add_argument("--reuse-eval", action="store_true", help="trust the run's evaluation instead of re-running it")
    p.add_argument("--quick-samples", type=int, default=0, metavar="N",
                   help="also record the metrics on the first N samples (for fast reproduction tests)")
    p.add_argument("--split", help="report this split's evaluation, written by tools/eval.py --split SPLIT (e.g. "
                   "test for a best/ chosen on val); default: the run's own evaluation")
    p.add_argument("--eval-data", nargs="+", default=[], metavar="data.KEY=VALUE",
                   help="where the entry's evaluation data lives when not where the run trained (e.g. photos "
                   "shipped with the package): stored in the entry's config; evaluate with tools/eval.py --set "
                   "the same values first")
    p.add_argument("--notes", metavar="FILE", help="Markdown file for the card's Data section: where the data "
                   "comes from, its licence, how the evaluation split was made")
    p.add_argument("--license", default="apache-2.0", help="license of the adapter (default apache-2.0)")
    _common.add_zoo_root(p, task_module=False)
    args = p.parse_args()
    if not args.recipe and not args.train_command:
        p.error("give --recipe RECIPE (the command is derived and checked) or --train-command")
    from lava_vision import zoo
    from lava_vision.zoo.publish import publish

    final = publish(args.run_dir, args.id, root=args.zoo_root, force=args.force, reuse_eval=args.reuse_eval,
                    recipe=args.recipe, train_command=args.train_command, license=args.license,
                    quick_samples=args.quick_samples, split=args.split,
                    eval_data=args.eval_data, notes=Path(args.notes).read_text() if args.notes else "")
    print(zoo.format_table([r for r in zoo.list(args.zoo_root) if r["name"] == args.id]))
    print(f"published {final}")


if __name__ == "__main__":
    _common.run_tool(main)
