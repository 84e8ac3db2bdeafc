#!/usr/bin/env python
"""Train one recipe over a small grid of settings, then compare the runs (the paper's Figure 6 view)."""
from __future__ import annotations

import sys
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/sweep.py tasks/quickstart.py --sweep adapter.rank=3,6,12 adapter.lam=0.05,0.1,0.2
  python tools/sweep.py tasks/quickstart.py --sweep adapter.lam=0.025,0.1,0.4 --set train.max_steps=200 --parallel 3
  python tools/sweep.py tasks/quickstart.py --sweep adapter.method=lava,lora adapter.rank=4,8 --dry-run

Each grid point trains into <output.root>/<name>__<key><value>_..., e.g. quickstart__rank3_lam0.05; a
point that already finished with the same resolved config (options added since at their defaults) is
reused, an interrupted one resumed, a folder of another config moved aside to <name>.replaced-<time>.
At the end the finished points are
compared into <output.root>/<name>_sweep/: comparison.md, comparison.csv, metric_vs_params.png and
sweep.png (the metric against the first --sweep key, one line per value of the other keys). With
--report-split test each point's best/ (chosen on eval.split) is then scored on the test split by
tools/eval.py and the comparison shows those numbers."""


def main() -> None:
    p = _common.parser("tools/sweep.py", __doc__, EXAMPLES)
    p.add_argument("--sweep", nargs="+", action="extend", default=[], required=True, metavar="KEY=V1,V2",
                   help="a recipe field and its values, comma-separated; several keys make a grid")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="1: one run after another in this process; N > 1: up to N tools/train.py processes")
    p.add_argument("--metric", help="metric to plot (default: the recipe's eval.main_metric)")
    p.add_argument("--report-split", metavar="SPLIT",
                   help="also score each point's best/ (chosen on eval.split) on SPLIT with tools/eval.py "
                   "(<run>/eval_<SPLIT>.json) and compare on those numbers, e.g. --report-split test")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their overrides, train nothing")
    args = p.parse_args()
    from lava_vision.analysis.compare import markdown_table, summarize_run
    from lava_vision.analysis.sweep import parse_sweep, plan_sweep, report_sweep, run_sweep, write_sweep_report

    sweep = parse_sweep(args.sweep)
    runs = plan_sweep(args.recipe, sweep, args.set)
    base = _common.load_config(args).output
    out_dir = Path(base.root) / f"{base.name}_sweep"
    if args.dry_run:
        for r in runs:
            print(f"{r.run_dir}: --set {' '.join(r.overrides)}")
        return
    run_sweep(runs, args.recipe, args.parallel, train_tool=Path(__file__).with_name("train.py"),
              log_dir=out_dir / "logs")
    if args.report_split:
        report_sweep(runs, args.recipe, args.report_split, args.parallel,
                     eval_tool=Path(__file__).with_name("eval.py"), log_dir=out_dir / "logs")
    paths = write_sweep_report(runs, sweep, out_dir, args.metric, args.report_split)
    print(markdown_table([summarize_run(r.run_dir, args.report_split) for r in runs if r.status in ("done", "reused")]))
    print(f"wrote {', '.join(str(q) for q in paths)}")
    failed = [r for r in runs if r.status == "failed"]
    for r in failed:
        print(f"error: {r.config.output.name} failed: {r.error}", file=sys.stderr)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    _common.run_tool(main)
