#!/usr/bin/env python
"""Time a recipe's training step eager against ``train.compile`` (torch.compile) or against
``train.tune_conv_paths`` (each CP conv's path chosen by timing), side by side.

Builds the recipe's model exactly as tools/train.py does (pretrained base, adapter, optimiser), takes
one real training batch, and times the trainer's step (task loss + orthogonal penalty, backward,
optimiser step) both ways, interleaved round by round, so a slow spell of the machine hits both.
``--variant compiled`` also prints the compiled first step's time (compilation included);
``--variant tuned`` switches the same model's CP convs between the paths ``adapter.conv_path=auto``
picks from FLOP counts and the ones the timing picks (printed), before each step. Prints the median
seconds of each and the median per-round ratio variant / eager with a distribution-free 95% interval
(the order statistics of tools/benchmark_models.py). On CPU the clock is this process's CPU time,
which other jobs on the cores do not inflate (exact with --threads 1)."""
from __future__ import annotations

import statistics
import time

import torch

import _common
from benchmark_models import bench_rounds, clock_for, paired_ratio
from lava_vision.adapters import orthogonal_penalty, train_mode

EXAMPLES = """\
  python tools/benchmark_compile.py tasks/cifar_resnet20_noise.py --threads 1 --repeats 31
  python tools/benchmark_compile.py tasks/cifar_resnet20_noise.py --set adapter.conv_path=factored --backend inductor
  python tools/benchmark_compile.py tasks/cifar_resnet20_noise.py --variant tuned --threads 1 --repeats 21"""


def make_step(task, model: torch.nn.Module, optimizer, batch: dict):
    def step() -> None:
        model.train()
        train_mode(model)
        loss = task.training_step(model, batch)["loss"] + orthogonal_penalty(model)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def with_paths(layers: dict[str, object], paths: dict[str, str], step):
    """``step`` run with each named CP conv on the given path."""
    def run() -> None:
        for name, path in paths.items():
            layers[name].path = path
        step()
    return run


def main() -> None:
    p = _common.parser("tools/benchmark_compile.py", __doc__, EXAMPLES)
    p.add_argument("--variant", choices=("compiled", "tuned"), default="compiled",
                   help="train.compile=true, or train.tune_conv_paths=true against adapter.conv_path=auto")
    p.add_argument("--repeats", type=int, default=31, help="timed rounds (each runs both steps once)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps of each before the rounds")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    p.add_argument("--backend", default="inductor", help="torch.compile backend (train.compile_backend)")
    args = p.parse_args()
    from lava_vision.adapters import CPConv, adapter_layers
    from lava_vision.adapters.autotune import tune_conv_paths
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
    print(f"recipe {args.recipe}, batch {cfg.train.batch_size}, {torch.get_num_threads()} thread(s), "
          f"{args.repeats} rounds, variant {args.variant}")
    if args.variant == "tuned":
        layers = {n: m for n, m in adapter_layers(model) if isinstance(m, CPConv)}
        if not layers or cfg.adapter.conv_path != "auto":
            raise SystemExit("--variant tuned needs CP convs and adapter.conv_path=auto")
        auto = {n: m.path for n, m in layers.items()}
        w0 = time.perf_counter()
        tuned = tune_conv_paths(model, lambda: task.training_step(model, batch))  # the convs the step runs
        print(f"tuning took {time.perf_counter() - w0:.1f} s; paths (auto -> tuned): " + ", ".join(
            f"{n} {auto[n]}->{tuned[n]}" for n in tuned))
        steps = {"eager": with_paths(layers, auto, eager), "tuned": with_paths(layers, {**auto, **tuned}, eager)}
    else:
        compiled = make_step(task, torch.compile(model, backend=args.backend), optimizer, batch)
        clock = clock_for(device)
        w0, c0 = time.perf_counter(), clock()
        compiled()
        first_wall, first_clock = time.perf_counter() - w0, clock() - c0
        print(f"compiled first step (compilation included): {first_wall:.1f} s wall, {first_clock:.1f} s CPU of "
              "this process (inductor compiles in worker processes too)")
        steps = {"eager": eager, "compiled": compiled}
    times = bench_rounds(steps, device, args.repeats, args.warmup)
    median, low, high = paired_ratio(times, args.variant, "eager")
    e, v = statistics.median(times["eager"]), statistics.median(times[args.variant])
    print(f"median step: eager {e * 1000:.1f} ms, {args.variant} {v * 1000:.1f} ms")
    print(f"{args.variant} / eager: {median:.3f} [{low:.3f}, {high:.3f}] (median per-round ratio, 95% interval)")
    if args.variant == "compiled":  # compilation runs partly in inductor's worker processes: wall time, minus a step
        print(f"steps to repay the compilation: {max(first_wall - v, 0.0) / (e - v):.0f} (wall time)" if v < e else
              "compiled is not faster: compilation is never repaid")


if __name__ == "__main__":
    _common.run_tool(main)
