"""Metric-depth evaluation as the field does it (ZoeDepth / Depth-Anything V2 ``metric_depth``).

Protocol: upsample the prediction to the ground-truth size (bilinear; a prediction of another
aspect ratio is refused), replace non-finite values as ZoeDepth's ``compute_metrics`` does (NaN
-> min_depth, +inf -> max_depth, -inf -> min_depth) and count them (``n_nonfinite``), clamp to
[min_depth, max_depth], keep pixels with min_depth < gt < max_depth (and inside the Eigen crop
when the ground truth is 480 x 640), compute every metric per image, then average over images.
An image without a valid pixel is skipped and counted, never turned into NaN.

Definitions per image (pred p, ground truth g, over the valid pixels):
  delta_k  = mean(max(g/p, p/g) < 1.25^k)         k = 1, 2, 3
  abs_rel  = mean(|p - g| / g)      sq_rel = mean((p - g)^2 / g)
  rmse     = sqrt(mean((p - g)^2))  rmse_log = sqrt(mean((ln p - ln g)^2))
  log10    = mean(|log10 p - log10 g|)
  silog    = sqrt(mean(e^2) - 0.5 mean(e)^2), e = ln p - ln g   (Depth-Anything V2's form, not x100)
"""
from __future__ import annotations

import torch
from torchmetrics import Metric

from .resize import ASPECT_TOL, check_aspect, resize_bilinear

METRIC_NAMES = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog")
# metric -> True when higher is better (for "best" checkpoints and worst-first sorting)
HIGHER_IS_BETTER = {"d1": True, "d2": True, "d3": True, "abs_rel": False, "sq_rel": False,
                    "rmse": False, "rmse_log": False, "log10": False, "silog": False}
EIGEN_CROP = (45, 471, 41, 601)  # rows 45:471, cols 41:601 of a 480 x 640 NYU frame


def upsample_to(pred: torch.Tensor, size: tuple[int, int], what: str = "depth prediction",
                tol: float = ASPECT_TOL) -> torch.Tensor:
    """Bilinear resize of ``B x H x W`` predictions to ``size`` (no-op when already there). A
    prediction whose aspect ratio differs from ``size``'s by more than ``tol`` (log ratio) is
    refused, naming ``what``."""
    if tuple(pred.shape[-2:]) == tuple(size):
        return pred
    check_aspect(tuple(pred.shape[-2:]), tuple(size), what, tol)
    return resize_bilinear(pred, size)


def replace_nonfinite(pred: torch.Tensor, min_depth: float, max_depth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ZoeDepth's convention: NaN -> ``min_depth``, +inf -> ``max_depth``, -inf -> ``min_depth``.
    Returns the repaired ``B x H x W`` prediction and the number of replaced pixels per image (``B``)."""
    bad = ~torch.isfinite(pred)
    if not bool(bad.any()):
        return pred, torch.zeros(pred.shape[0], dtype=torch.long, device=pred.device)
    fixed = torch.where(torch.isnan(pred), torch.full_like(pred, min_depth), pred)
    fixed = torch.where(fixed == float("inf"), torch.full_like(pred, max_depth), fixed)
    fixed = torch.where(fixed == float("-inf"), torch.full_like(pred, min_depth), fixed)
    return fixed, bad.flatten(1).sum(1)


def eval_mask(gt: torch.Tensor, min_depth: float = 1e-3, max_depth: float = 10.0,
              eigen_crop: bool = True) -> torch.Tensor:
    """Valid-pixel mask ``B x H x W``: min_depth < gt < max_depth, inside the Eigen crop when the
    ground truth is 480 x 640 and ``eigen_crop`` is set (other sizes are evaluated whole)."""
    valid = (gt > min_depth) & (gt < max_depth)
    if eigen_crop and tuple(gt.shape[-2:]) == (480, 640):
        crop = torch.zeros_like(valid)
        r0, r1, c0, c1 = EIGEN_CROP
        crop[..., r0:r1, c0:c1] = True
        valid = valid & crop
    return valid


def per_image_metrics(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric for each image of ``B x H x W`` tensors (pred already clamped to > 0).

    Returns name -> ``B`` tensor (float64) and "n_valid" -> ``B`` pixel counts; images with no valid
    pixel get NaN here and are filtered by the caller (``DepthMetrics`` skips and counts them).
    """
    p, g, m = pred.double(), gt.double(), valid.to(torch.float64)
    g_safe = torch.where(valid, g, torch.ones_like(g))  # keep logs finite off the mask
    p_safe = torch.where(valid, p, torch.ones_like(p))
    n = m.flatten(1).sum(1)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return (x * m).flatten(1).sum(1) / n

    ratio = torch.maximum(g_safe / p_safe, p_safe / g_safe)
    diff = p_safe - g_safe
    elog = torch.log(p_safe) - torch.log(g_safe)
    return {
        "d1": mean((ratio < 1.25).double()), "d2": mean((ratio < 1.25 ** 2).double()),
        "d3": mean((ratio < 1.25 ** 3).double()),
        "abs_rel": mean(diff.abs() / g_safe), "sq_rel": mean(diff.square() / g_safe),
        "rmse": mean(diff.square()).sqrt(), "rmse_log": mean(elog.square()).sqrt(),
        "log10": mean((torch.log10(p_safe) - torch.log10(g_safe)).abs()),
        "silog": (mean(elog.square()) - 0.5 * mean(elog).square()).clamp_min(0).sqrt(),
        "n_valid": n,
    }


class DepthMetrics(Metric):
    """Per-image depth metrics averaged over images; states are sums + counts, so they sync
    across processes. ``compute()`` returns the nine metrics plus ``n_images``, ``n_skipped``
    (images without a valid pixel) and ``n_nonfinite`` (prediction pixels replaced, see
    ``replace_nonfinite``).

    ``update(pred, gt)``: pred ``B x h x w`` float (any size of gt's aspect ratio; upsampled to
    gt), gt ``B x H x W`` metres.
    """

    full_state_update = False
    higher_is_better = None

    def __init__(self, min_depth: float = 1e-3, max_depth: float = 10.0, eigen_crop: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.min_depth, self.max_depth, self.eigen_crop = min_depth, max_depth, eigen_crop
        for name in METRIC_NAMES:
            self.add_state(f"sum_{name}", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_images", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("n_skipped", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("n_nonfinite", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def prepare(self, pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pred upsampled to gt size, non-finite values replaced and clamped; valid mask; replaced
        pixels per image), the first two ``B x H x W``."""
        if pred.ndim != 3 or gt.ndim != 3 or pred.shape[0] != gt.shape[0]:
            raise ValueError(f"DepthMetrics: expected pred and gt of shape B x H x W with equal B, got "
                             f"{tuple(pred.shape)} and {tuple(gt.shape)}")
        if not pred.is_floating_point():
            raise ValueError(f"DepthMetrics: prediction dtype {pred.dtype}; expected float metres")
        pred = upsample_to(pred.float(), tuple(gt.shape[-2:]))
        pred, replaced = replace_nonfinite(pred, self.min_depth, self.max_depth)
        pred = pred.clamp(self.min_depth, self.max_depth)
        return pred, eval_mask(gt, self.min_depth, self.max_depth, self.eigen_crop), replaced

    def per_image(self, pred: torch.Tensor, gt: torch.Tensor) -> list[dict[str, float] | None]:
        """One metrics dict per image (None for an image without a valid pixel)."""
        pred, valid, _ = self.prepare(pred, gt)
        vals = per_image_metrics(pred, gt, valid)
        out = []
        for i in range(gt.shape[0]):
            out.append(None if vals["n_valid"][i] == 0 else {k: float(vals[k][i]) for k in METRIC_NAMES})
        return out

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        pred, valid, replaced = self.prepare(pred, gt)
        vals = per_image_metrics(pred, gt, valid)
        keep = vals["n_valid"] > 0
        for name in METRIC_NAMES:
            setattr(self, f"sum_{name}", getattr(self, f"sum_{name}") + vals[name][keep].sum())
        self.n_images += keep.sum()
        self.n_skipped += (~keep).sum()
        self.n_nonfinite += replaced.sum()

    def compute(self) -> dict[str, torch.Tensor]:
        # no evaluable image at all: NaN says so, where 0 would read as a (terrible) score
        n_images = self.n_images.double()
        n = torch.where(self.n_images > 0, n_images, torch.full_like(n_images, float("nan")))
        out = {name: (getattr(self, f"sum_{name}") / n).float() for name in METRIC_NAMES}
        out["n_images"] = self.n_images.clone()
        out["n_skipped"] = self.n_skipped.clone()
        out["n_nonfinite"] = self.n_nonfinite.clone()
        return out
