"""Side-by-side generation: the same prompts and seeds through the base model (adapters disabled)
and the adapted model, laid out as one grid."""
from __future__ import annotations

from pathlib import Path

import torch

from ...adapters import disable_adapters
from .training_module import SDXLDiffusion
from .visualize import save_grid


def render_base_and_adapted(model: SDXLDiffusion, prompts: list[str], seeds: list[int], size: int,
                            steps: int = 25, guidance_scale: float = 5.0) -> dict[str, torch.Tensor]:
    """{"base", "adapted"}: each ``P x S x 3 x size x size`` in [0, 1] (prompt-major), same seeds."""
    pairs = [(p, s) for p in prompts for s in seeds]
    kw = dict(prompts=[p for p, _ in pairs], seeds=[s for _, s in pairs], height=size, width=size, steps=steps,
              guidance_scale=guidance_scale)
    was_training = model.training
    model.eval()
    try:
        adapted = model(mode="generate", **kw)
        with disable_adapters(model):
            base = model(mode="generate", **kw)
    finally:
        model.train(was_training)
    shape = (len(prompts), len(seeds), *adapted.shape[1:])
    return {"base": base.reshape(shape).cpu(), "adapted": adapted.reshape(shape).cpu()}


def comparison_grid(images: dict[str, torch.Tensor], prompts: list[str], seeds: list[int], path: Path,
                    adapted_label: str = "adapted") -> Path:
    """One row per prompt; columns: base with each seed, then adapted with each seed."""
    rows = [[images["base"][i, j] for j in range(len(seeds))] + [images["adapted"][i, j] for j in range(len(seeds))]
            for i in range(len(prompts))]
    cols = [f"base s{s}" for s in seeds] + [f"{adapted_label} s{s}" for s in seeds]
    return save_grid(rows, [p[:40] for p in prompts], cols, Path(path))
