#!/usr/bin/env python
"""Compare finished runs: one Markdown table (method, trainable parameters and % of base, step time,
samples/s, peak memory, every eval metric) and the main metric against trainable parameters."""
from __future__ import annotations

import argparse
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/compare.py runs/cifar10_resnet18_lava runs/cifar10_resnet18_lora runs/cifar10_resnet18_full
  python tools/compare.py runs/quickstart runs/quickstart_lora --metric top1 --metrics top1,top5 --out reports/qs

Reads only the run folders (config.json, metrics.json, log.jsonl, the adapter config). Step time is
the median per-step forward + backward + optimiser time of the train log windows; peak memory is
torch.cuda.max_memory_allocated on a GPU, the process's peak RSS on CPU. Writes comparison.md,
comparison.csv and metric_vs_params.png to --out (default: ./comparison)."""


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/compare.py", description=__doc__, epilog="examples:\n" + EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished run folders")
    p.add_argument("--metric", help="metric for the plot (default: the runs' eval.main_metric)")
    p.add_argument("--metrics", help="comma-separated metric columns of the table (default: every metric)")
    p.add_argument("--split", help="compare the runs' eval_<SPLIT>.json (tools/eval.py --split SPLIT on the "
                   "selected checkpoint) instead of their final evaluation, e.g. --split test")
    p.add_argument("--out", default="comparison", help="output folder (default: ./comparison)")
    args = p.parse_args()
    from lava_vision.analysis.compare import markdown_table, summarize_run, write_comparison

    runs = [summarize_run(r, args.split) for r in args.runs]
    columns = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    paths = write_comparison(runs, Path(args.out), args.metric, columns)
    print(markdown_table(runs, columns))
    print(f"wrote {', '.join(str(q) for q in paths)}")


if __name__ == "__main__":
    _common.run_tool(main)
