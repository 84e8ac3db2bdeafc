"""Losses for prompt-free binary segmentation (Conv-LoRA's setting): the structure loss of PraNet
(weighted BCE + weighted IoU) and a per-batch balanced BCE for shadows.

Both take logits ``B x 1 x H x W`` and {0, 1} masks of the same shape and return a scalar.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def structure_loss(logits: torch.Tensor, mask: torch.Tensor, kernel: int = 31,
                   boundary_weight: float = 5.0) -> torch.Tensor:
    """Weighted BCE + weighted IoU with pixel weights w = 1 + 5 |avgpool_31(mask) - mask|, which
    grow near object boundaries.

    Per image: wBCE = sum(w * bce) / sum(w), wIoU = 1 - (sum(w p m) + 1) / (sum(w (p + m)) - sum(w p m) + 1)
    with p = sigmoid(logits); the loss is the mean over images of wBCE + wIoU. The BCE is truly
    weighted: the widely copied ``F.binary_cross_entropy_with_logits(..., reduce='none')`` passes a
    deprecated argument that PyTorch overrides with ``reduction='mean'``, so its "weighted" BCE is
    a plain mean.
    """
    if logits.shape != mask.shape:
        raise ValueError(f"structure_loss: logits {tuple(logits.shape)} and mask {tuple(mask.shape)} differ")
    mask = mask.to(logits.dtype)
    weight = 1 + boundary_weight * (F.avg_pool2d(mask, kernel, stride=1, padding=kernel // 2) - mask).abs()
    bce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    wbce = (weight * bce).sum(dim=(2, 3)) / weight.sum(dim=(2, 3))
    prob = torch.sigmoid(logits)
    inter = (prob * mask * weight).sum(dim=(2, 3))
    union = ((prob + mask) * weight).sum(dim=(2, 3))
    wiou = 1 - (inter + 1) / (union - inter + 1)
    return (wbce + wiou).mean()


def balanced_bce(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BCE with the positive pixels weighted by N_neg / N_pos of the batch (1 when the batch has
    no positive pixel), so that small shadow regions count as much as the background."""
    if logits.shape != mask.shape:
        raise ValueError(f"balanced_bce: logits {tuple(logits.shape)} and mask {tuple(mask.shape)} differ")
    mask = mask.to(logits.dtype)
    n_pos = mask.sum()
    n_neg = mask.numel() - n_pos
    pos_weight = torch.where(n_pos > 0, n_neg / n_pos.clamp_min(1), torch.ones_like(n_pos))
    return F.binary_cross_entropy_with_logits(logits, mask, pos_weight=pos_weight.detach())


LOSSES = {"structure": structure_loss, "balanced_bce": balanced_bce}
