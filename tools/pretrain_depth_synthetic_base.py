#!/usr/bin/env python
"""Pretrain the small Depth-Anything that ``tasks/depth_synthetic.py`` adapts: a tiny
``DepthAnythingForDepthEstimation`` (built from its config, same classes as the released models)
trained in full on synthetic rooms of distribution A, saved with ``save_pretrained`` (safetensors)
to ``lava_vision/assets/depth_synthetic_base/`` with a ``pretraining.json`` card holding the
command, the settings and its metrics on A and on B (the distribution the recipe adapts to).

    python tools/pretrain_depth_synthetic_base.py --out lava_vision/assets/depth_synthetic_base
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from lava_vision.data.synthetic_depth import SyntheticDepthDataset
from lava_vision.metrics.depth import DepthMetrics
from lava_vision.tasks.depth.config import DepthDataConfig
from lava_vision.tasks.depth.data import DepthSamples
from lava_vision.tasks.depth.loss import silog_loss

HW = (84, 112)  # render size; training crops are 84 x 84 (6 x 6 patches of 14)


def tiny_config(max_depth: int = 10):
    """The base's architecture: DINOv2 hidden 48 / 4 layers / 3 heads, 4-level DPT neck."""
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(hidden_size=48, num_hidden_layers=4, num_attention_heads=3, intermediate_size=96,
                            out_indices=[1, 2, 3, 4], patch_size=14, image_size=HW[0], layerscale_value=1.0,
                            reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=48,
                               neck_hidden_sizes=[16, 32, 48, 64], fusion_hidden_size=32, head_hidden_size=16,
                               depth_estimation_type="metric", max_depth=max_depth)


@torch.no_grad()
def evaluate(model, distribution: str, n: int, device: torch.device) -> dict[str, float]:
    data = DepthDataConfig(source="synthetic", input_size=HW[0], synthetic_hw=HW)
    ds = DepthSamples(SyntheticDepthDataset(n, distribution, *HW, seed=10_000), train=False, cfg=data)
    metric = DepthMetrics(eigen_crop=False).to(device)
    model.eval()
    for batch in DataLoader(ds, batch_size=16):
        pred = model(pixel_values=batch["image"].to(device)).predicted_depth
        metric.update(pred.clamp(1e-3, 10.0), batch["depth"].to(device))
    model.train()
    return {k: round(float(v), 4) for k, v in metric.compute().items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="lava_vision/assets/depth_synthetic_base")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--scenes", type=int, default=20000, help="distinct training scenes of distribution A")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    from transformers import DepthAnythingForDepthEstimation

    model = DepthAnythingForDepthEstimation(tiny_config())
    for m in model.modules():  # torch's default fan-in init: transformers' 0.02-std init starves a net this small
        if m is not model and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    model.to(device).train()
    data = DepthDataConfig(source="synthetic", input_size=HW[0], synthetic_hw=HW, color_jitter=0.2)
    train = DepthSamples(SyntheticDepthDataset(args.scenes, "A", *HW, seed=args.seed), train=True, cfg=data)
    loader = DataLoader(train, batch_size=args.batch, shuffle=True, num_workers=args.workers, drop_last=True,
                        persistent_workers=args.workers > 0)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / args.steps, 1.0))))
    start, step, bar = time.time(), 0, tqdm(total=args.steps, desc="pretrain A")
    while step < args.steps:
        for batch in loader:
            img, gt = batch["image"].to(device), batch["depth"].to(device)
            pred = model(pixel_values=img).predicted_depth
            loss = silog_loss(pred, gt, (gt > 1e-3) & (gt < 10.0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if step >= args.steps:
                break
    bar.close()
    metrics = {"A": evaluate(model, "A", 128, device), "B": evaluate(model, "B", 128, device)}
    out = Path(args.out)
    model.cpu().save_pretrained(out, safe_serialization=True)
    card = {"command": "python " + " ".join(sys.argv), "args": vars(args), "seconds": round(time.time() - start, 1),
            "params": sum(q.numel() for q in model.parameters()), "render_hw": list(HW),
            "eval_scenes": "128 scenes per distribution, seed 10000, not seen in training", "metrics": metrics}
    (out / "pretraining.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
