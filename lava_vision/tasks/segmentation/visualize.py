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


TITLES = ("image", "ground truth", "prediction", "errors: FP red, FN blue")
MIN_TILE = 256  # small inputs are enlarged (nearest neighbour) so a panel stays readable


def panel(image: torch.Tensor, mask: torch.Tensor, prob: torch.Tensor, threshold: float = 0.5) -> np.ndarray:
    """image: 3 x H x W in [0, 1]; mask, prob: 1 x H x W. Returns an RGB uint8 panel of four titled
    tiles (each at least ``MIN_TILE`` pixels high)."""
    img = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.float32)
    gt = mask.detach()[0].cpu().numpy() > 0.5
    pred = prob.detach()[0].float().cpu().numpy() > threshold
    gt_rgb = np.repeat((gt * 255.0)[..., None], 3, axis=2)
    overlay = _blend(img, pred, TP_COLOUR)
    errors = _blend(img * 0.5, pred & gt, TP_COLOUR, 0.35)
    errors = _blend(errors, pred & ~gt, FP_COLOUR, 0.9)
    errors = _blend(errors, ~pred & gt, FN_COLOUR, 0.9)
    tiles = [_titled(t.clip(0, 255).astype(np.uint8), title) for t, title in zip((img, gt_rgb, overlay, errors), TITLES)]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    return np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2], gap, tiles[3]], axis=1)


def _titled(tile: np.ndarray, title: str) -> np.ndarray:
    """Enlarge a small tile by an integer factor (nearest: masks stay crisp) and put a title above."""
    import cv2

    k = max(1, -(-MIN_TILE // tile.shape[0]))
    if k > 1:
        tile = cv2.resize(tile, (tile.shape[1] * k, tile.shape[0] * k), interpolation=cv2.INTER_NEAREST)
    head = np.full((24, tile.shape[1], 3), 255, np.uint8)
    scale = min(0.5, 0.9 * tile.shape[1] / max(1, 10 * len(title)))
    cv2.putText(head, title, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([head, tile], axis=0)


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
