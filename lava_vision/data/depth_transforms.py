"""Paired image / depth transforms for metric-depth training and evaluation.

Depth is carried as an albumentations ``mask``: it is resized with nearest neighbour only, so a
depth value is never interpolated across an invalid (zero) pixel or a depth edge. Colour jitter
touches the image alone.
"""
from __future__ import annotations

from collections.abc import Callable

import albumentations as A
import cv2
import numpy as np
import torch

from .augment import seeded_compose

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PairTransform = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def multiple_size(height: int, width: int, size: int, multiple: int = 14) -> tuple[int, int]:
    """Keep-aspect size with the shorter side scaled to ``size`` and each side rounded to the
    nearest multiple of ``multiple``: 480 x 640 at 518 gives 518 x 686, as Depth-Anything does."""
    scale = size / min(height, width)

    def fit(x: float) -> int:
        return int(max(multiple, round(x / multiple) * multiple))

    return fit(height * scale), fit(width * scale)


def train_transform(size: int = 518, hflip: bool = True, color_jitter: float = 0.2,
                    multiple: int = 14) -> PairTransform:
    """Resize (shorter side -> ``size``), random ``size`` x ``size`` crop, horizontal flip and
    colour jitter (brightness/contrast/saturation ``color_jitter``, hue ``color_jitter / 4``).

    Returns ``f(rgb H x W x 3 uint8, depth H x W float32) -> (rgb, depth)`` at ``size`` x ``size``.
    """
    if size % multiple:
        raise ValueError(f"data.input_size={size}: must be a multiple of the patch size {multiple}")
    ops = [A.SmallestMaxSize(max_size=size, interpolation=cv2.INTER_CUBIC, mask_interpolation=cv2.INTER_NEAREST),
           A.RandomCrop(size, size)]
    if hflip:
        ops.append(A.HorizontalFlip(p=0.5))
    if color_jitter > 0:
        j = color_jitter
        ops.append(A.ColorJitter(brightness=j, contrast=j, saturation=j, hue=j / 4, p=0.8))
    pipeline = seeded_compose(ops)

    def apply(rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = pipeline(image=rgb, mask=depth)
        return out["image"], out["mask"]

    return apply


def eval_resize(rgb: np.ndarray, size: int = 518, multiple: int = 14) -> np.ndarray:
    """Resize an ``H x W x 3`` image keeping its aspect to a multiple of ``multiple`` (bicubic).
    The ground truth is left at its own size: predictions are upsampled to it for evaluation."""
    h, w = multiple_size(rgb.shape[0], rgb.shape[1], size, multiple)
    if (h, w) == rgb.shape[:2]:
        return rgb
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """``H x W x 3`` uint8 -> ``3 x H x W`` float, ImageNet-normalised (what Depth-Anything expects)."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


def to_image(x: torch.Tensor) -> np.ndarray:
    """Inverse of ``to_tensor``: ``3 x H x W`` normalised -> ``H x W x 3`` uint8 (for pictures)."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1)
    rgb = ((x.float() * std + mean).clamp(0, 1) * 255.0).round().byte()
    return rgb.permute(1, 2, 0).cpu().numpy()
