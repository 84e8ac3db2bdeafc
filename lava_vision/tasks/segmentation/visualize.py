"""Picture panels for binary segmentation: image | ground truth | [base overlay] | prediction
overlay | errors, predictions titled with their per-image S-measure and IoU.

Errors: false positives in red, false negatives in blue, true positives dimmed green.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..panels import save_png, titled_row

FP_COLOUR = np.array([230, 40, 40], np.float32)   # RGB
FN_COLOUR = np.array([40, 90, 255], np.float32)
TP_COLOUR = np.array([60, 200, 90], np.float32)


def blend(image: np.ndarray, where: np.ndarray, colour: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """``H x W x 3`` image with ``colour`` mixed in at ``alpha`` where the ``H x W`` bool ``where`` is set (float32)."""
    out = image.astype(np.float32).copy()
    out[where] = (1 - alpha) * out[where] + alpha * colour
    return out


ERRORS_TITLE = "errors: FP red, FN blue"


def score_line(scores: dict[str, float] | None) -> str:
    """``Sα 0.812  IoU 0.703`` from per-image metrics (``sm``, ``iou``)."""
    return f"Sα {scores['sm']:.3f}  IoU {scores['iou']:.3f}" if scores else ""


def panel(image: torch.Tensor, mask: torch.Tensor, prob: torch.Tensor, threshold: float = 0.5,
          scores: dict[str, float] | None = None, base_prob: torch.Tensor | None = None,
          base_scores: dict[str, float] | None = None) -> tuple[np.ndarray, list[str]]:
    """image: 3 x H x W in [0, 1]; mask, prob, base_prob: 1 x H x W. Returns an RGB uint8 panel
    image | ground truth | [base] | prediction | errors of the prediction (tiles enlarged to at
    least ``panels.MIN_TILE`` px, each titled, predictions with their scores) and its column titles."""
    img = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.float32)
    gt = mask.detach()[0].cpu().numpy() > 0.5
    pred = prob.detach()[0].float().cpu().numpy() > threshold
    gt_rgb = np.repeat((gt * 255.0)[..., None], 3, axis=2)
    errors = blend(img * 0.5, pred & gt, TP_COLOUR, 0.35)
    errors = blend(errors, pred & ~gt, FP_COLOUR, 0.9)
    errors = blend(errors, ~pred & gt, FN_COLOUR, 0.9)
    tiles, titles = [img, gt_rgb], [["image"], ["ground truth"]]
    if base_prob is not None:
        tiles.append(blend(img, base_prob.detach()[0].float().cpu().numpy() > threshold, TP_COLOUR))
        titles.append(["base", score_line(base_scores)])
    tiles += [blend(img, pred, TP_COLOUR), errors]
    titles += [["adapted" if base_prob is not None else "prediction", score_line(scores)], [ERRORS_TITLE]]
    tiles = [t.clip(0, 255).astype(np.uint8) for t in tiles]
    return titled_row(tiles, titles), [" ".join(t).strip() for t in titles]


def write_panels(batch: dict, probs: torch.Tensor, out_dir: Path, start_index: int,
                 scores: list[dict] | None = None, base_probs: torch.Tensor | None = None,
                 base_scores: list[dict] | None = None) -> list[Path]:
    """One PNG per sample, named ``<index>_<id>.png``; returns the paths. ``scores`` /
    ``base_scores``: per-image metrics of ``probs`` / ``base_probs`` for the titles."""
    out_dir = Path(out_dir)
    ids = batch.get("id") or [str(i) for i in range(probs.shape[0])]
    paths = []
    for i in range(probs.shape[0]):
        image, columns = panel(batch["image"][i], batch["mask"][i], probs[i], scores=scores[i] if scores else None,
                               base_prob=base_probs[i] if base_probs is not None else None,
                               base_scores=base_scores[i] if base_scores else None)
        paths.append(save_png(image, out_dir / f"{start_index + i:05d}_{ids[i]}.png", columns, str(ids[i])))
    return paths
