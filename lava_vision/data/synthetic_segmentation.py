"""A synthetic binary-segmentation dataset written to disk in the ``images/`` + ``masks/``
layout: one filled shape (ellipse, rectangle or triangle) per image, its own noisy colour
against a striped, noisy background of another colour. Deterministic for a given seed."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _texture(rng: np.random.Generator, size: int, base: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    angle, period = rng.uniform(0, np.pi), rng.uniform(4, 12)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)[..., None]
    img = base[None, None, :] + 25 * stripes + rng.normal(0, 12, (size, size, 3))
    return np.clip(img, 0, 255)


def synthetic_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 ``size x size x 3`` image and its uint8 {0, 255} mask."""
    import cv2

    mask = np.zeros((size, size), np.uint8)
    cx, cy = rng.integers(size // 4, 3 * size // 4, 2)
    r = int(rng.integers(size // 8, size // 4))
    kind = rng.integers(3)
    if kind == 0:
        cv2.ellipse(mask, (int(cx), int(cy)), (r, int(r * rng.uniform(0.5, 1))), float(rng.uniform(0, 180)),
                    0, 360, 255, -1)
    elif kind == 1:
        cv2.rectangle(mask, (int(cx - r), int(cy - r // 2)), (int(cx + r), int(cy + r // 2)), 255, -1)
    else:
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(mask, [pts], 255)
    bg_colour = rng.uniform(40, 215, 3)
    fg_colour = np.clip(255 - bg_colour + rng.normal(0, 20, 3), 0, 255)  # contrasting object colour
    fg = mask[..., None] > 0
    image = np.where(fg, _texture(rng, size, fg_colour), _texture(rng, size, bg_colour))
    return image.astype(np.uint8), mask


def write_synthetic_segmentation(root: str | Path, splits: dict[str, int], size: int = 64, seed: int = 0) -> Path:
    """Write ``root/<split>/images/*.png`` and ``root/<split>/masks/*.png`` with ``splits[split]``
    samples each; splits already on disk with that many images are left as they are."""
    import cv2

    root = Path(root)
    for k, (split, n) in enumerate(sorted(splits.items())):
        img_dir, mask_dir = root / split / "images", root / split / "masks"
        if img_dir.is_dir() and len(list(img_dir.glob("*.png"))) == n:
            continue
        img_dir.mkdir(parents=True, exist_ok=True)
        mask_dir.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, k])
        for i in range(n):
            image, mask = synthetic_pair(rng, size)
            cv2.imwrite(str(img_dir / f"{split}_{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(mask_dir / f"{split}_{i:04d}.png"), mask)
    return root
