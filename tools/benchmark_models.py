"""Benchmark (not a test): whole-model training steps of every task's architecture, side by side.

Real-size architectures from their published configs with random weights (nothing is downloaded):
timm ResNet-50 (224², batch 32), Depth-Anything-V2-Large through transformers (518², batch 4),
SAM ViT-B through segment-anything (``checkpoint=None``, 1024², batch 2) and the SDXL UNet through
diffusers (128² latents, batch 2, bf16 on a GPU). For each model, in one run and interleaved
round-robin so machine noise hits all alike, it times a training step (forward + backward +
AdamW step) of:

* ``frozen``: the base with only its head trained (the floor);
* ``peft-lora``: PEFT's LoRA, ``flat-lora``: this project's flattening LoRA and ``lava``: LAVA
  (CP convs, orthogonal regulariser in the step), all three on the same layers at the same rank
  (the task preset's layers that PEFT can adapt);
* ``recipe``: the task recipe's own adapter setting (tasks/*.py), with its regulariser;
* ``lava-tuned`` (``--tune``): ``lava`` with each CP conv's path measured (adapters.autotune);

eager and under ``torch.compile``, and prints the median step time, peak memory (CUDA) or the
activation memory saved for backward (CPU), and ratios to PEFT LoRA and to the frozen base.

    python tools/benchmark_models.py --device cuda                 # real sizes (GPU)
    python tools/benchmark_models.py --device cpu --quick          # small configs, a few minutes
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from benchmark_model_zoo import SPECS, ModelSpec
from lava_vision.adapters import AdapterConfig, inject, merge, orthogonal_penalty, plan, train_mode, unload
from lava_vision.adapters.autotune import tune_conv_paths

PEFT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)  # layer types PEFT's LoRA adapts


def common_targets(model: nn.Module, preset: str, rank: int) -> list[str]:
    """The preset's layers (at ``rank``) of the types PEFT's LoRA supports, by full name."""
    rows = plan(model, AdapterConfig(method="lava", preset=preset, rank=rank, alpha=rank, lam=0.1)).rows
    return [r.name for r in rows if type(model.get_submodule(r.name)) in PEFT_TYPES]


def build_candidates(spec: ModelSpec, quick: bool, rank: int, device, dtype,
                     tune: bool = False) -> dict[str, tuple[nn.Module, bool]]:
    """name -> (model on device, uses the orthogonal regulariser)."""
    torch.manual_seed(0)
    base = spec.build(quick).to(device, dtype)
    head = [spec.head]
    # the preset at full rank, except layers whose CP rank is bounded below it (e.g. 1-output convs)
    targets = [n for n in common_targets(base, spec.preset, 1)
               if min(base.get_submodule(n).weight.shape[:2]) >= rank and not n.startswith(spec.head + ".")
               and n != spec.head]
    out = {}
    frozen = copy.deepcopy(base)
    inject(frozen, AdapterConfig(method="frozen", modules_to_save=head))
    out["frozen"] = (frozen, False)

    from peft import LoraConfig, inject_adapter_in_model
    peft = copy.deepcopy(base)
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets), peft)
    for n, p in peft.named_parameters():
        p.requires_grad_("lora_" in n or n.startswith(spec.head + "."))
        if "lora_B" in n:  # a nonzero update, as after the first step
            nn.init.normal_(p, 0, 0.01)
    out["peft-lora"] = (peft, False)
    for method in ("lora", "lava"):
        m = copy.deepcopy(base)
        inject(m, AdapterConfig(method=method, targets=targets, rank=rank, alpha=rank, lam=0.1, modules_to_save=head))
        out["flat-lora" if method == "lora" else "lava"] = (m, method == "lava")
    recipe = spec.recipe()  # as the recipe trains: its own layers, ranks and modules_to_save
    m = copy.deepcopy(base)
    inject(m, recipe)
    out["recipe"] = (m, recipe.method == "lava" and recipe.lam > 0)
    if tune:  # LAVA with each CP conv's path measured on this device and input (autotune)
        m = copy.deepcopy(out["lava"][0])
        batch = spec.batch(quick, device, dtype)
        tune_conv_paths(m, lambda: spec.loss(m, batch))
        out["lava-tuned"] = (m, True)
    for name, (m, _) in out.items():
        if name != "peft-lora":
            train_mode(m)
        else:
            m.train()
    return out


def make_step(model: nn.Module, spec: ModelSpec, batch: dict, regularised: bool,
              compiled: bool) -> Callable[[], None]:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-6, foreach=True)
    # the regulariser is part of the step's loss, so under torch.compile it fuses with the rest
    fwd = ((lambda b: spec.loss(model, b) + orthogonal_penalty(model)) if regularised
           else (lambda b: spec.loss(model, b)))
    if compiled:
        # static: every candidate's closure shares this code object, so without it dynamo's
        # automatic dynamic shapes would recompile the second candidate with symbolic sizes
        # (which inductor then fails on for SAM's windowed attention)
        fwd = torch.compile(fwd, dynamic=False)

    def step():
        opt.zero_grad(set_to_none=True)
        fwd(batch).backward()
        opt.step()
    return step


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def clock_for(device) -> Callable[[], float]:
    """CUDA: wall clock. CPU: this process's CPU time, which other jobs sharing the cores do not
    inflate (exact for the compute with ``--threads 1``, where ATen and autograd run inline)."""
    return time.perf_counter if device.type == "cuda" else time.process_time


def bench(steps: dict[str, Callable[[], None]], device, repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per step of each candidate, interleaved round-robin."""
    return {k: statistics.median(v) for k, v in bench_rounds(steps, device, repeats, warmup).items()}


def bench_rounds(steps: dict[str, Callable[[], None]], device, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of each candidate's step in each of ``repeats`` rounds; every round runs every
    candidate once, in turn, so a slow spell of the machine hits one round of all of them."""
    clock = clock_for(device)
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in steps}
    for _ in range(repeats):
        for k, fn in steps.items():
            sync(device)
            t0 = clock()
            fn()
            sync(device)
            times[k].append(clock() - t0)
    return times


def median_ci(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Median and a distribution-free confidence interval for it: the order statistics
    ``x_(j) .. x_(n-j+1)`` with the largest j for which Binomial(n, 1/2) puts at least ``level``
    between them (no normality assumed; machine noise is skewed)."""
    x = sorted(values)
    n = len(x)
    j = 0
    while j + 1 <= n // 2 and 1 - 2 * sum(math.comb(n, i) for i in range(j + 1)) / 2 ** n >= level:
        j += 1
    lo, hi = (x[j - 1], x[n - j]) if j else (x[0], x[-1])
    return statistics.median(x), lo, hi


def paired_ratio(times: dict[str, list[float]], num: str, den: str) -> tuple[float, float, float]:
    """Median and 95% interval of the per-round ratio num/den (the two ran back to back)."""
    return median_ci([a / b for a, b in zip(times[num], times[den])])


def _ratio_ci(times: dict[str, list[float]], num: str, den: str) -> str:
    """``paired_ratio`` as ``median [low, high]``."""
    median, low, high = paired_ratio(times, num, den)
    return f"{median:.3f} [{low:.3f}, {high:.3f}]"


def memory(step: Callable[[], None], model: nn.Module, device) -> float:
    """CUDA: peak allocated bytes of one step. CPU: bytes autograd saves for backward."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        sync(device)
        return torch.cuda.max_memory_allocated(device)
    # each storage once (an input saved by the base layer and by its adapter is one tensor), and
    # not the model's own parameters, which exist whether or not autograd saves them
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


def regulariser_share(model: nn.Module, step_s: float, device, repeats: int) -> float:
    def reg():
        orthogonal_penalty(model).backward()
    return bench({"reg": reg}, device, repeats, 2)["reg"] / step_s


def merged_inference(cands: dict, spec: ModelSpec, batch: dict, device, repeats: int) -> str:
    """Inference of LAVA merged (adapters swapped out) and merged + unloaded, against the base."""
    merged = copy.deepcopy(cands["lava"][0]).eval()
    merge(merged)
    unloaded = unload(copy.deepcopy(merged))
    base = cands["frozen"][0].eval()
    runs = {k: (lambda m=m: spec.loss(m, batch)) for k, m in
            {"base": base, "merged": merged, "unloaded": unloaded}.items()}
    with torch.no_grad():
        rounds = bench_rounds(runs, device, repeats, 2)
    base.train()
    return (f"  [infer] base {statistics.median(rounds['base']) * 1e3:.1f} ms; merged / base "
            f"{_ratio_ci(rounds, 'merged', 'base')}; merged+unload / base {_ratio_ci(rounds, 'unloaded', 'base')}")


def run_model(spec: ModelSpec, args, device, dtype) -> list[str]:
    cands = build_candidates(spec, args.quick, args.rank, device, dtype, args.tune)
    batch = spec.batch(args.quick, device, dtype)
    n_layers = sum(1 for n, _ in cands["peft-lora"][0].named_modules() if n.endswith("lora_A"))
    lines = [f"\n{spec.name}: {spec.describe(args.quick)}, dtype {str(dtype)[6:]}, rank {args.rank}, "
             f"{n_layers} layers adapted alike by peft-lora / flat-lora / lava"]
    print(lines[0], flush=True)
    for mode in args.modes:
        names = [n for n in cands if mode == "eager" or n in args.compile_candidates]
        steps = {n: make_step(cands[n][0], spec, batch, cands[n][1], mode == "compiled") for n in names}
        mem = {n: memory(steps[n], cands[n][0], device) if mode == "eager" or device.type == "cuda" else float("nan")
               for n in names}
        rounds = bench_rounds(steps, device, args.repeats, args.warmup)
        t = {k: statistics.median(v) for k, v in rounds.items()}
        mem_label = "peak MiB" if device.type == "cuda" else "saved MiB"
        block = [f"  [{mode}] {'candidate':<10} {'step ms':>9} {'/peft [95% CI]':>22} {'/frozen':>8} "
                 f"{mem_label:>10} {'/peft':>6}"]
        for n in names:
            ratio = {k: _ratio_ci(rounds, n, k) if k in rounds else "n/a" for k in ("peft-lora", "frozen")}
            mem_ratio = f"{mem[n] / mem['peft-lora']:.3f}" if mem.get("peft-lora") else "n/a"
            block.append(f"  [{mode}] {n:<10} {t[n] * 1e3:9.1f} {ratio['peft-lora']:>22} "
                         f"{ratio['frozen'].split()[0]:>8} {mem[n] / 2**20:10.2f} {mem_ratio:>6}")
        if mode == "eager":
            for n in ("lava", "recipe"):
                if cands[n][1]:
                    share = regulariser_share(cands[n][0], t[n], device, args.repeats)
                    block.append(f"  [{mode}] regulariser fwd+bwd of {n}: {100 * share:.2f}% of its step")
        if mode == "eager" and "lava" in names:
            block.append(merged_inference(cands, spec, batch, device, args.repeats))
        print("\n".join(block), flush=True)
        lines += block
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small inputs and configs (CPU smoke runs)")
    ap.add_argument("--models", default=",".join(SPECS), help=f"comma list of {list(SPECS)}")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds (default 15 quick, 20)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--modes", default="eager,compiled", help="eager and/or compiled (torch.compile, inductor)")
    ap.add_argument("--compile-candidates", default="frozen,peft-lora,lava",
                    help="candidates also timed under torch.compile (each compiles its own graphs)")
    ap.add_argument("--dtype", default=None, help="float32 or bfloat16 (default: bf16 for SDXL on CUDA)")
    ap.add_argument("--tune", action="store_true", help="add lava-tuned: CP conv paths picked by measurement")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.repeats = args.repeats or (15 if args.quick else 20)
    args.compile_candidates = args.compile_candidates.split(",")
    args.modes = args.modes.split(",")
    device = torch.device(args.device)
    print(f"device={device} quick={args.quick} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"clock={clock_for(device).__name__} "
          f"rank={args.rank} repeats={args.repeats}; step = forward + backward + AdamW step; "
          f"medians of interleaved rounds; ratios: median and 95% CI of the per-round ratio")
    for name in args.models.split(","):
        spec = SPECS[name]
        dtype = getattr(torch, args.dtype) if args.dtype else spec.dtype(device)
        run_model(spec, args, device, dtype)


if __name__ == "__main__":
    main()
