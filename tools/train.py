#!/usr/bin/env python
"""Fine-tune a model with an adapter, as a recipe describes. Thin wrapper over lava_vision.train.train."""
from __future__ import annotations

import _common

EXAMPLES = """\
  python tools/train.py tasks/depth_nyu.py
  python tools/train.py tasks/depth_nyu.py --set train.max_steps=50 optim.lr=3e-4 adapter.rank=8
  python tools/train.py tasks/depth_nyu.py --resume          # continue a killed run from its last/
  accelerate launch --num_processes 2 tools/train.py tasks/depth_nyu.py   # or: torchrun --nproc_per_node 2 ...

The run folder is <output.root>/<output.name> (name defaults to the recipe's file name): config.json,
plan.txt, log.jsonl, tb/ (tensorboard --logdir <run>/tb), last/, checkpoints/step_<N>/ and best/,
metrics.json, eval_history.jsonl, pictures/. last/ is saved every epoch end, every train.save_every
steps and every train.save_every_minutes (default 10); Ctrl-C or SIGTERM saves it, then stops."""


def main() -> None:
    p = _common.parser("tools/train.py", "Train an adapter as RECIPE describes and write a run folder.", EXAMPLES)
    p.add_argument("--resume", action="store_true", help="continue the run in the run folder from its last/ checkpoint")
    args = p.parse_args()
    cfg = _common.load_config(args)
    from lava_vision.train import train
    from lava_vision.train.run_files import read_run_metrics

    run_dir = train(cfg, resume=args.resume)
    if _common.is_main_process():
        print("\n".join((run_dir / "plan.txt").read_text().splitlines()[-2:]))
        metrics = read_run_metrics(run_dir / "metrics.json")
        print(_common.metrics_table({metrics.pop("split"): {k: v for k, v in metrics.items() if k != "step"}}))
        print(f"run folder: {run_dir}")


if __name__ == "__main__":
    _common.run_tool(main)
