"""Picture panels for binary segmentation: image | ground truth | prediction overlay | errors.

Errors: false positives in red, false negatives in blue, true positives dimmed green.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

FP_COLOUR = np.array([230, 40, 40], np.float32)   # RGB
FN_COLOUR = np.array([40, 90, 255], np.float32)
TP_COLOUR = np.array([60, 200, 90], np.float32)


def _blend(image: np.ndarray, where: np.ndarray, colour: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    out = image.astype(np.float32).copy()
    out[where] = (1 - alpha) * out[where] + alpha * colour
    return out


def panel(image: torch.Tensor, mask: torch.Tensor, prob: torch.Tensor, threshold: float = 0.5) -> np.ndarray:
    """image: 3 x H x W in [0, 1]; mask, prob: 1 x H x W. Returns an RGB uint8 H x 4W(+gaps) x 3 panel."""
    img = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.float32)
    gt = mask.detach()[0].cpu().numpy() > 0.5
    pred = prob.detach()[0].float().cpu().numpy() > threshold
    gt_rgb = np.repeat((gt * 255.0)[..., None], 3, axis=2)
    overlay = _blend(img, pred, TP_COLOUR)
    errors = _blend(img * 0.5, pred & gt, TP_COLOUR, 0.35)
    errors = _blend(errors, pred & ~gt, FP_COLOUR, 0.9)
    errors = _blend(errors, ~pred & gt, FN_COLOUR, 0.9)
    gap = np.full((img.shape[0], max(2, img.shape[1] // 64), 3), 255.0, np.float32)
    return np.concatenate([img, gap, gt_rgb, gap, overlay, gap, errors], axis=1).clip(0, 255).astype(np.uint8)


def write_panels(batch: dict, probs: torch.Tensor, out_dir: Path, start_index: int) -> list[Path]:
    """One PNG per sample, named ``<index>_<id>.png``; returns the paths."""
    import cv2

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = batch.get("id") or [str(i) for i in range(probs.shape[0])]
    paths = []
    for i in range(probs.shape[0]):
        p = out_dir / f"{start_index + i:05d}_{ids[i]}.png"
        cv2.imwrite(str(p), cv2.cvtColor(panel(batch["image"][i], batch["mask"][i], probs[i]), cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths
