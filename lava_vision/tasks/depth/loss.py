"""Scale-invariant log losses for metric depth, over valid pixels only.

``silog`` (Depth-Anything V2 ``metric_depth``): sqrt(mean(d^2) - lam * mean(d)^2), lam = 0.5.
``zoe`` (ZoeDepth): 10 * sqrt(Var(d) + 0.15 * mean(d)^2) with the unbiased variance.
d = ln(gt) - ln(pred) over the pixels of the whole batch where min_depth < gt < max_depth.
"""
from __future__ import annotations

import torch

from ...metrics.depth import upsample_to

_EPS = 1e-6  # keeps ln(pred) finite where the sigmoid head saturates at 0


def silog_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, kind: str = "silog",
               lam: float = 0.5) -> torch.Tensor:
    """Scale-invariant log loss. pred, gt, valid: ``B x H x W`` (pred is upsampled to gt's size).

    kind: ``silog`` (DA-V2 form with ``lam``) or ``zoe`` (ZoeDepth form; ``lam`` is unused).
    A batch without a valid pixel gives a zero loss that still depends on ``pred`` (so DDP's
    gradient hooks fire on every rank).
    """
    pred = upsample_to(pred, tuple(gt.shape[-2:]))
    if pred.shape != gt.shape or valid.shape != gt.shape:
        raise ValueError(f"silog_loss: pred {tuple(pred.shape)}, gt {tuple(gt.shape)} and valid "
                         f"{tuple(valid.shape)} must all be B x H x W")
    if not valid.any():
        return pred.sum() * 0.0
    d = torch.log(gt[valid]) - torch.log(pred[valid].clamp_min(_EPS))
    if kind == "silog":
        return (d.square().mean() - lam * d.mean().square()).clamp_min(0).add(1e-12).sqrt()
    if kind == "zoe":
        var = d.var() if d.numel() > 1 else d.new_zeros(())
        return 10.0 * (var + 0.15 * d.mean().square()).add(1e-12).sqrt()
    raise ValueError(f"loss.kind={kind!r}: expected 'silog' or 'zoe'")
