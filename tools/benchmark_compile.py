#!/usr/bin/env python
"""Time a recipe's training step eager against ``train.compile`` (torch.compile), side by side.

Builds the recipe's model exactly as tools/train.py does (pretrained base, adapter, optimiser), takes
one real training batch, and times the trainer's step (task loss + orthogonal penalty, backward,
optimiser step) eager and compiled, interleaved round by round, so a slow spell of the machine hits
both. Prints the compiled first step's time (compilation included), the median seconds of each, and
the median per-round ratio compiled / eager with a distribution-free 95% interval (the order
statistics of tools/benchmark_models.py). On CPU the clock is this process's CPU time, which other
jobs on the cores do not inflate (exact with --threads 1)."""
from __future__ import annotations

import statistics
import time

import torch

import _common
from benchmark_models import bench_rounds, clock_for, paired_ratio
from lava_vision.adapters import orthogonal_penalty, train_mode

EXAMPLES = """\
  python tools/benchmark_compile.py tasks/cifar_resnet20_noise.py --threads 1 --repeats 31
  python tools/benchmark_compile.py tasks/cifar_resnet20_noise.py --set adapter.conv_path=factored --backend inductor"""


def make_step(task, model: torch.nn.Module, optimizer, batch: dict):
    def step() -> None:
        model.train()
        train_mode(model)
        loss = task.training_step(model, batch)["loss"] + orthogonal_penalty(model)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def main() -> None:
    p = _common.parser("tools/benchmark_compile.py", __doc__, EXAMPLES)
    p.add_argument("--repeats", type=int, default=31, help="timed rounds (each runs both steps once)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps of each before the rounds")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    p.add_argument("--backend", default="inductor", help="torch.compile backend (train.compile_backend)")
    args = p.parse_args()
    from lava_vision.train import build_run
    from lava_vision.train.optim import build_optimizer

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _common.load_config(args)
    torch.manual_seed(cfg.train.seed)
    task, model, _ = build_run(cfg)
    data = task.build_dataset("train")
    batch = task.collate([data[i] for i in range(min(cfg.train.batch_size, len(data)))])
    optimizer = build_optimizer(model, cfg)
    device = torch.device("cpu")
    eager = make_step(task, model, optimizer, batch)
    compiled_model = torch.compile(model, backend=args.backend)
    compiled = make_step(task, compiled_model, optimizer, batch)
    clock = clock_for(device)
    w0, c0 = time.perf_counter(), clock()
    compiled()
    first_wall, first_clock = time.perf_counter() - w0, clock() - c0
    times = bench_rounds({"eager": eager, "compiled": compiled}, device, args.repeats, args.warmup)
    median, low, high = paired_ratio(times, "compiled", "eager")
    e, c = statistics.median(times["eager"]), statistics.median(times["compiled"])
    print(f"recipe {args.recipe}, batch {cfg.train.batch_size}, {torch.get_num_threads()} thread(s), "
          f"backend {args.backend}, {args.repeats} rounds")
    print(f"compiled first step (compilation included): {first_wall:.1f} s wall, {first_clock:.1f} s CPU of this "
          "process (inductor compiles in worker processes too)")
    print(f"median step: eager {e * 1000:.1f} ms, compiled {c * 1000:.1f} ms")
    print(f"compiled / eager: {median:.3f} [{low:.3f}, {high:.3f}] (median per-round ratio, 95% interval)")
    # compilation runs partly in inductor's worker processes: its cost is the wall time, minus one step
    print(f"steps to repay the compilation: {max(first_wall - c, 0.0) / (e - c):.0f} (wall time)" if c < e else
          "compiled is not faster: compilation is never repaid")


if __name__ == "__main__":
    _common.run_tool(main)
