"""Bringing a prediction to its ground truth's size before scoring, without hiding a mismatch.

Scoring is done at the ground truth's own size (the field's protocol): a prediction made at the
model's resolution is resized bilinearly (``align_corners=False``, no antialias, as
``F.interpolate`` in ZoeDepth / Depth-Anything / PraNet-style evaluation code). Resizing is only
meaningful when the prediction covers the same scene geometry, so a prediction whose aspect
ratio differs from the ground truth's (e.g. transposed) is refused instead of silently stretched.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ASPECT_TOL = 0.05  # |log(aspect_pred / aspect_gt)| allowed: rounding of sides, never a transposition


def check_aspect(pred_hw: tuple[int, int], gt_hw: tuple[int, int], what: str = "prediction",
                 tol: float = ASPECT_TOL) -> None:
    """Raise ValueError naming ``what`` when ``pred_hw`` and ``gt_hw`` (H, W) differ in aspect ratio
    by more than ``tol`` in log ratio (0.05 is about 5 %)."""
    (h, w), (gh, gw) = pred_hw, gt_hw
    if min(h, w, gh, gw) <= 0:
        raise ValueError(f"{what}: empty size {h}x{w} or ground truth {gh}x{gw}")
    if abs(math.log((w / h) / (gw / gh))) > tol:
        raise ValueError(f"{what}: prediction is {h}x{w} (H x W) but its ground truth is {gh}x{gw}; aspect "
                         f"ratios {w / h:.4g} and {gw / gh:.4g} differ (a transposed or cropped prediction?), "
                         "refusing to stretch it")


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``... x H x W`` (any leading dims, float) to ``size``; no-op at that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, *x.shape[-2:])
    out = F.interpolate(flat, size=tuple(size), mode="bilinear", align_corners=False)
    return out.reshape(*lead, *size)
