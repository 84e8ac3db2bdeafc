"""Trainable-parameter counts of the toy-experiment recipes next to the paper's Table 1."""
from __future__ import annotations

import dataclasses

import torch

from ...adapters import plan
from ...train.config import RunConfig
from .models import build_classifier

# Paper Table 1 (= Table 5): trainable parameters in % of the model, (reshape-involved LoRA, LAVA).
PAPER_TABLE1 = {"alexnet": (0.13, 0.08), "vgg11": (0.09, 0.04), "resnet34": (1.05, 0.25),
                "googlenet": (2.32, 1.66), "resnet18": (1.01, 0.28), "convnext_tiny": (3.12, 0.15)}


def plan_counts(cfg: RunConfig) -> dict[str, dict[str, float]]:
    """For ``lava`` and ``lora`` at the recipe's rank: adapter parameters on the targeted layers,
    the same plus the head, and both in % of the base model. The model is built on the meta
    device without weights (shapes are all a plan needs)."""
    model_cfg = dataclasses.replace(cfg.model, pretrained="none")
    with torch.device("meta"):
        model = build_classifier(model_cfg)
    out = {}
    for method in ("lava", "lora"):
        p = plan(model, dataclasses.replace(cfg.adapter, method=method))
        out[method] = {"adapter": p.adapter_params, "with_head": p.trainable_params, "base": p.base_params,
                       "adapter_pct": 100 * p.adapter_params / p.base_params,
                       "with_head_pct": p.trainable_percent}
    return out


def compare_plans(cfg: RunConfig) -> str:
    """A small table: our counts for LAVA and LoRA against the paper's Table 1 (when listed)."""
    counts = plan_counts(cfg)
    paper = PAPER_TABLE1.get(cfg.model.name)
    lines = [f"{cfg.model.name} ({cfg.model.library}), {cfg.model.num_classes} classes, rank {cfg.adapter.rank}, "
             f"base {counts['lava']['base']:,} params",
             f"{'method':<8} {'adapter params':>15} {'% of base':>10} {'+ head %':>9} {'paper Table 1 %':>16}"]
    for i, method in enumerate(("lora", "lava")):
        c = counts[method]
        ref = f"{paper[i]:.2f}" if paper else "-"
        lines.append(f"{method:<8} {c['adapter']:>15,} {c['adapter_pct']:>10.3f} {c['with_head_pct']:>9.3f} {ref:>16}")
    return "\n".join(lines)
