"""Benchmark (not a test): adapter training-step cost, measured side by side in one run.

For conv shapes from ResNet-50 and a Depth-Anything-Large DPT neck/head, and for a ViT-B block,
it times forward+backward of: the frozen base layer, LAVA's CP adapter (kernel, factored and
two_conv paths, auto), this project's flattening LoRA and PEFT's LoRA (if ``peft`` is installed), all at
the same rank, interleaving the candidates so machine noise hits them alike. It also reports the
activation memory each saves for backward (and the CUDA peak on a GPU), the orthogonal
regulariser's share of a ResNet-50 training step, and merged inference against the base model.

    python tools/benchmark_adapters.py                      # CPU, small batch
    python tools/benchmark_adapters.py --device cuda --batch 32
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from lava_vision.adapters import AdapterConfig, CPConv, FlatLoRAConv, LoRALinear, inject, merge, orthogonal_penalty

# (name, conv, input H=W): ResNet-50 bottleneck convs and Depth-Anything-Large DPT neck/head.
CONV_SHAPES = [
    ("r50 1x1 256->64 @56", lambda: nn.Conv2d(256, 64, 1, bias=False), 56),
    ("r50 3x3 64->64 @56", lambda: nn.Conv2d(64, 64, 3, padding=1, bias=False), 56),
    ("r50 3x3 128->128 s2 @56", lambda: nn.Conv2d(128, 128, 3, 2, 1, bias=False), 56),
    ("r50 3x3 256->256 @14", lambda: nn.Conv2d(256, 256, 3, padding=1, bias=False), 14),
    ("r50 1x1 1024->256 @14", lambda: nn.Conv2d(1024, 256, 1, bias=False), 14),
    ("r50 3x3 512->512 @7", lambda: nn.Conv2d(512, 512, 3, padding=1, bias=False), 7),
    ("dpt reassemble convT k4s4 256 @37", lambda: nn.ConvTranspose2d(256, 256, 4, 4), 37),
    ("dpt fusion 3x3 256->256 @74", lambda: nn.Conv2d(256, 256, 3, padding=1), 74),
    ("dpt head 3x3 256->128 @148", lambda: nn.Conv2d(256, 128, 3, padding=1), 148),
    # the CIFAR ResNet-20 of tasks/cifar_resnet20_noise.py (32x32 photos, batch 128 in the recipe)
    ("cifar r20 3x3 3->16 @32", lambda: nn.Conv2d(3, 16, 3, padding=1, bias=False), 32),
    ("cifar r20 3x3 16->16 @32", lambda: nn.Conv2d(16, 16, 3, padding=1, bias=False), 32),
    ("cifar r20 3x3 16->32 s2 @32", lambda: nn.Conv2d(16, 32, 3, 2, 1, bias=False), 32),
    ("cifar r20 3x3 32->32 @16", lambda: nn.Conv2d(32, 32, 3, padding=1, bias=False), 16),
    ("cifar r20 3x3 64->64 @8", lambda: nn.Conv2d(64, 64, 3, padding=1, bias=False), 8),
]


class SavedBytes:
    """Bytes of tensors autograd saves for backward (activation memory, device independent)."""

    def __enter__(self):
        self.total = 0

        def pack(t):
            self.total += t.numel() * t.element_size()
            return t
        self.ctx = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
        self.ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self.ctx.__exit__(*exc)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_fn(layer, x):
    def run():
        xi = x.detach().requires_grad_(True)  # a layer in the middle of a network passes grads on
        layer(xi).float().square().mean().backward()
    return run


def bench(cands: dict, device, repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each candidate, candidates interleaved round-robin."""
    for fn in cands.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in cands}
    for _ in range(repeats):
        for k, fn in cands.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def peft_lora(layer, rank, alpha):
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        return None
    holder = nn.Sequential(copy.deepcopy(layer))
    try:
        inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=alpha, target_modules=["0"]), holder)
    except ValueError:  # e.g. PEFT has no LoRA for ConvTranspose2d
        return None
    with torch.no_grad():  # nonzero B so the benchmark exercises a real update
        for n, p in holder.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.01)
    return holder


def conv_candidates(make, rank, device, dtype):
    base = make().to(device, dtype).requires_grad_(False)
    c = {"base": base}
    for path in ("kernel", "factored", "two_conv", "auto"):
        c[f"cp-{path}"] = CPConv(copy.deepcopy(base), rank, rank, 1.0, 0.1, ["U"], path=path)
    c["flat-lora"] = FlatLoRAConv(copy.deepcopy(base), rank, rank, 1.0)
    p = peft_lora(base, rank, rank)
    if p is not None:
        c["peft-lora"] = p
    for m in c.values():
        m.to(device, dtype)
    return c


def fmt_row(name, times, saved, extra=""):
    t_best = min(times["cp-kernel"], times["cp-factored"], times["cp-two_conv"])
    cells = [f"{name:<34}", f"{times['base'] * 1e3:8.2f}"]
    for k in ("cp-kernel", "cp-factored", "cp-two_conv", "cp-auto", "flat-lora", "peft-lora"):
        cells.append(f"{times[k] / times['base']:6.2f}x" if k in times else "   n/a ")
    cells.append(f"{times['cp-auto'] / t_best:6.2f}")
    if "peft-lora" in times:
        cells.append(f"{times['cp-auto'] / times['peft-lora']:6.2f}")
    else:
        cells.append("   n/a")
    cells.append(f"{saved['cp-auto'] / 2**20:7.1f}/{saved.get('peft-lora', float('nan')) / 2**20:.1f}")
    return " ".join(cells) + extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--layers-only", action="store_true", help="skip the ResNet-50 regulariser / merge part")
    ap.add_argument("--shapes", default="", help="only the conv shapes whose name contains this (e.g. cifar); "
                    "implies --layers-only without the ViT linears")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    torch.manual_seed(0)
    print(f"device={device} dtype={args.dtype} batch={args.batch} rank={args.rank} torch={torch.__version__}")
    print("times are fwd+bwd medians; columns after 'base ms' are ratios to the frozen base layer")
    print(f"{'layer':<34} {'base ms':>8} {'cp-ker':>7} {'cp-fac':>7} {'cp-two':>7} {'cp-auto':>7} "
          f"{'flat':>7} {'peft':>7} {'auto/best':>6} {'auto/peft':>6} saved MiB auto/peft")
    for name, make, hw in [s for s in CONV_SHAPES if args.shapes in s[0]]:
        cands = conv_candidates(make, args.rank, device, dtype)
        x = torch.randn(args.batch, cands["base"].in_channels, hw, hw, device=device, dtype=dtype)
        saved = {}
        for k, m in cands.items():
            with SavedBytes() as s:
                m(x.detach().requires_grad_(True)).float().square().mean()
            saved[k] = s.total
        times = bench({k: step_fn(m, x) for k, m in cands.items()}, device, args.repeats)
        print(fmt_row(name, times, saved, f"  auto={cands['cp-auto'].path}"))

    if args.shapes:
        return
    # ViT-B block linears on 197 tokens
    tokens = torch.randn(args.batch, 197, 768, device=device, dtype=dtype)
    for name, (i, o) in {"vit-b qkv 768->2304": (768, 2304), "vit-b fc1 768->3072": (768, 3072),
                         "vit-b fc2 3072->768": (3072, 768)}.items():
        base = nn.Linear(i, o).to(device, dtype).requires_grad_(False)
        cands = {"base": base, "lava": LoRALinear(copy.deepcopy(base), args.rank, args.rank, 1.0, 0.1, ["A"])}
        p = peft_lora(base, args.rank, args.rank)
        if p is not None:
            cands["peft-lora"] = p.to(device, dtype)
        x = tokens if i == 768 else torch.randn(args.batch, 197, i, device=device, dtype=dtype)
        t = bench({k: step_fn(m, x) for k, m in cands.items()}, device, args.repeats)
        ratio = f"{t['lava'] / t['peft-lora']:.2f}" if "peft-lora" in t else "n/a"
        print(f"{name:<34} {t['base'] * 1e3:8.2f}  lava {t['lava'] / t['base']:.2f}x  lava/peft {ratio}")

    if args.layers_only:
        return
    # regulariser share and merged inference on a ResNet-50-shaped network
    import torchvision
    net = torchvision.models.resnet50(weights=None).to(device, dtype)
    inject(net, AdapterConfig(rank=args.rank, preset="cnn", lam=0.1, modules_to_save=["fc"]))
    x = torch.randn(args.batch, 3, 224, 224, device=device, dtype=dtype)
    net.eval()

    def train_step():
        (net(x).float().square().mean() + orthogonal_penalty(net)).backward()

    def reg_only():
        orthogonal_penalty(net).backward()
    t = bench({"step": train_step, "reg": reg_only}, device, max(3, args.repeats // 3))
    print(f"resnet50 training step {t['step'] * 1e3:.1f} ms; orthogonal regulariser fwd+bwd "
          f"{t['reg'] * 1e3:.2f} ms = {100 * t['reg'] / t['step']:.2f}% of the step")
    base_net = torchvision.models.resnet50(weights=None).to(device, dtype).eval()
    merge(net)
    with torch.no_grad():
        t = bench({"base": lambda: base_net(x), "merged": lambda: net(x)}, device, max(3, args.repeats // 3))
    print(f"merged inference / base inference = {t['merged'] / t['base']:.3f}")


if __name__ == "__main__":
    main()
