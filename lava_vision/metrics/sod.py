"""Salient / camouflaged object metrics as batched torch functions (one value per image).

Definitions follow Fan et al. (S-measure, ICCV 2017; E-measure, IJCAI 2018) and Margolin et al.
(weighted F-measure, CVPR 2014) with the conventions of PySODMetrics, which the COD / SOD / polyp
literature reports with:

* a prediction is a probability map: float as is, uint8 divided by 255, bool as 0 / 1; other
  integer dtypes and non-finite values are refused (``check_prediction``). It is min-max
  normalised per image (left as is when constant);
* ground truth is binarised by one rule (``binarize_gt``): float ``> 0.5``, uint8 ``> 128`` (as
  PySODMetrics' ``gt > 128``) unless the image holds only 0 and 1 (a {0, 1} mask: ``== 1``),
  bool as is;
* E-measure over 256 thresholds ``t / 255`` on ``uint8(pred * 255)`` (``pred >= t``), reported as
  the mean over thresholds (and the max of the image-averaged curve), plus the adaptive E-measure
  at ``min(2 * mean(pred), 1)``;
* weighted F uses a 7x7 Gaussian with sigma 5 and zero padding, as MATLAB ``imfilter``.

Inputs are ``B x H x W`` (or ``B x 1 x H x W``) tensors on any device; outputs are ``B`` tensors.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

EPS = float(np.spacing(1))  # PySODMetrics' _EPS


def check_prediction(pred: torch.Tensor) -> torch.Tensor:
    """A ``B x ...`` prediction as float probabilities: float kept, uint8 / 255, bool 0 / 1.

    Raises ValueError for another integer dtype (its range is ambiguous) and for non-finite
    values, naming the batch index of the first bad image.
    """
    if pred.dtype == torch.uint8:
        return pred.float() / 255
    if pred.dtype == torch.bool:
        return pred.float()
    if not pred.is_floating_point():
        raise ValueError(f"prediction dtype {pred.dtype}: expected float probabilities, uint8 (0..255) or bool")
    bad = ~torch.isfinite(pred.flatten(1)) if pred.dim() > 1 else ~torch.isfinite(pred)
    if bool(bad.any()):
        per_image = bad.sum(-1) if pred.dim() > 1 else bad
        i = int(torch.nonzero(per_image)[0, 0])
        raise ValueError(f"prediction {i} of the batch holds {int(per_image[i])} non-finite value(s) (NaN/inf); "
                         "segmentation metrics refuse them")
    return pred if pred.dtype in (torch.float32, torch.float64) else pred.float()


def binarize_gt(gt: torch.Tensor) -> torch.Tensor:
    """Ground truth ``B x H x W`` -> bool: float ``> 0.5``; uint8 ``> 128`` of 255 (PySODMetrics),
    except an image whose values all lie in {0, 1}, read as a {0, 1} mask; bool as is. Other
    integer dtypes are refused (their scale is ambiguous)."""
    if gt.dtype == torch.bool:
        return gt
    if gt.dtype == torch.uint8:
        zero_one = gt.flatten(1).amax(1).view(-1, *(1,) * (gt.dim() - 1)) <= 1
        return torch.where(zero_one, gt > 0, gt > 128)
    if not gt.is_floating_point():
        raise ValueError(f"ground-truth dtype {gt.dtype}: expected float (> 0.5), uint8 (> 128 of 255) or bool")
    return gt > 0.5


def prepare_sod(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pred: B x [1 x] H x W probabilities -> min-max normalised float; gt -> bool (``binarize_gt``)."""
    if pred.dim() == 4:
        pred, gt = pred.squeeze(1), gt.squeeze(1)
    if pred.shape != gt.shape or pred.dim() != 3:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must both be B x H x W")
    pred = check_prediction(pred)
    lo = pred.amin(dim=(1, 2), keepdim=True)
    hi = pred.amax(dim=(1, 2), keepdim=True)
    rng = hi - lo
    pred = torch.where(rng > 0, (pred - lo) / torch.where(rng > 0, rng, 1), pred)
    return pred, binarize_gt(gt)


def _masked_mean(x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = m.sum(dim=(1, 2)).to(x.dtype)
    return (x * m).sum(dim=(1, 2)) / n.clamp_min(1), n


# ----------------------------------------------------------------------------------------- S-measure
def _s_object(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """2 mu / (mu^2 + 1 + sigma + eps) over the pixels in ``m``; sigma with N - 1 (MATLAB std,
    which is 0 for a single pixel)."""
    mu, n = _masked_mean(x, m)
    var = ((x - mu[:, None, None]) ** 2 * m).sum(dim=(1, 2)) / (n - 1).clamp_min(1)
    return 2 * mu / (mu ** 2 + 1 + var.sqrt() + EPS)


def _ssim(pred: torch.Tensor, gt: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Fan et al.'s global SSIM of one quadrant (pixels in ``m``). N - 1 is clamped to 1 so a
    one-pixel quadrant scores 1 instead of NaN; an empty quadrant has weight 0 anyway."""
    x, n = _masked_mean(pred, m)
    y, _ = _masked_mean(gt, m)
    dx, dy = (pred - x[:, None, None]) * m, (gt - y[:, None, None]) * m
    d = (n - 1).clamp_min(1)
    sx, sy, sxy = (dx * dx).sum(dim=(1, 2)) / d, (dy * dy).sum(dim=(1, 2)) / d, (dx * dy).sum(dim=(1, 2)) / d
    alpha = 4 * x * y * sxy
    beta = (x ** 2 + y ** 2) * (sx + sy)
    score = torch.where(alpha != 0, alpha / (beta + EPS), torch.zeros_like(alpha))
    return torch.where((alpha == 0) & (beta == 0), torch.ones_like(alpha), score)


def _region(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    b, h, w = gt.shape
    g = gt.to(pred.dtype)
    rows = torch.arange(h, device=pred.device, dtype=pred.dtype)[None, :, None]
    cols = torch.arange(w, device=pred.device, dtype=pred.dtype)[None, None, :]
    n = g.sum(dim=(1, 2)).clamp_min(1)
    # centroid rounded half-to-even as numpy, then +1 (the MATLAB original is 1-based)
    cy = torch.round((g * rows).sum(dim=(1, 2)) / n) + 1
    cx = torch.round((g * cols).sum(dim=(1, 2)) / n) + 1
    top, left = rows < cy[:, None, None], cols < cx[:, None, None]
    area = h * w
    w1 = cx * cy / area
    w2 = cy * (w - cx) / area
    w3 = (h - cy) * cx / area
    w4 = 1 - w1 - w2 - w3
    quads = [top & left, top & ~left, ~top & left, ~top & ~left]
    scores = [_ssim(pred, g, q.to(pred.dtype)) for q in quads]
    return w1 * scores[0] + w2 * scores[1] + w3 * scores[2] + w4 * scores[3]


def s_measure(pred: torch.Tensor, gt: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """Structure measure S_alpha = alpha * S_object + (1 - alpha) * S_region, clipped at 0; an
    all-background gt scores 1 - mean(pred), an all-foreground gt mean(pred). Returns B."""
    pred, gt = prepare_sod(pred, gt)
    g = gt.to(pred.dtype)
    u = g.mean(dim=(1, 2))
    obj = u * _s_object(pred, g) + (1 - u) * _s_object(1 - pred, 1 - g)
    sm = (alpha * obj + (1 - alpha) * _region(pred, gt)).clamp_min(0)
    mean_pred = pred.mean(dim=(1, 2))
    return torch.where(u == 0, 1 - mean_pred, torch.where(u == 1, mean_pred, sm))


# ----------------------------------------------------------------------------------------- E-measure
def _em_from_counts(fg_fg: torch.Tensor, fg_bg: torch.Tensor, gt_fg: torch.Tensor, size: int) -> torch.Tensor:
    """E-measure from pixel counts (pred fg & gt fg, pred fg & gt bg, gt fg); broadcasts."""
    pred_fg = fg_fg + fg_bg
    pred_bg = size - pred_fg
    bg_fg = gt_fg - fg_fg
    bg_bg = pred_bg - bg_fg
    mp, mg = pred_fg / size, gt_fg / size
    total = torch.zeros_like(pred_fg)
    for count, a, b in ((fg_fg, 1 - mp, 1 - mg), (fg_bg, 1 - mp, -mg), (bg_fg, -mp, 1 - mg), (bg_bg, -mp, -mg)):
        align = 2 * a * b / (a * a + b * b + EPS)
        total = total + count * (align + 1) ** 2 / 4
    total = torch.where(gt_fg == 0, pred_bg, torch.where(gt_fg == size, pred_fg, total))
    return total / (size - 1 + EPS)


def e_measure_curve(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """E-measure at the 256 thresholds t = 0..255 on ``uint8(pred * 255) >= t``. Returns B x 256."""
    pred, gt = prepare_sod(pred, gt)
    b = pred.shape[0]
    size = pred[0].numel()
    q = (pred * 255).to(torch.uint8).long().flatten(1)  # truncation, as numpy's astype
    idx = q + 256 * torch.arange(b, device=q.device)[:, None]
    g = gt.flatten(1).to(pred.dtype)
    hist_fg = torch.bincount(idx.flatten(), weights=g.flatten(), minlength=256 * b).view(b, 256)
    hist_bg = torch.bincount(idx.flatten(), weights=(1 - g).flatten(), minlength=256 * b).view(b, 256)
    fg_fg = hist_fg.flip(1).cumsum(1).flip(1)  # count with value >= t
    fg_bg = hist_bg.flip(1).cumsum(1).flip(1)
    gt_fg = g.sum(1, keepdim=True)
    return _em_from_counts(fg_fg.to(pred.dtype), fg_bg.to(pred.dtype), gt_fg, size)


def e_measure_adaptive(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """E-measure at the adaptive threshold min(2 * mean(pred), 1). Returns B."""
    pred, gt = prepare_sod(pred, gt)
    thr = (2 * pred.mean(dim=(1, 2))).clamp_max(1)
    binary = pred >= thr[:, None, None]
    g = gt.to(pred.dtype)
    fg_fg = (binary & gt).sum(dim=(1, 2)).to(pred.dtype)
    fg_bg = (binary & ~gt).sum(dim=(1, 2)).to(pred.dtype)
    return _em_from_counts(fg_fg, fg_bg, g.sum(dim=(1, 2)), pred[0].numel())


# ---------------------------------------------------------------------------------- weighted F-measure
def matlab_gaussian(size: int = 7, sigma: float = 5.0) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: normalised, tiny entries zeroed."""
    r = (size - 1) / 2
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    k = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    k[k < np.finfo(k.dtype).eps * k.max()] = 0
    return k / k.sum()


def _nearest_foreground(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each pixel to the nearest foreground pixel and that pixel's flat index (MATLAB
    ``bwdist``). Uses scipy.ndimage.distance_transform_edt on the CPU: the one step of the metrics
    that does not run on the accelerator."""
    from scipy.ndimage import distance_transform_edt

    h, w = gt.shape
    if gt.all():
        return np.zeros(gt.shape), np.arange(h * w).reshape(h, w)
    dist, (iy, ix) = distance_transform_edt(~gt, return_indices=True)
    return dist, iy * w + ix


def weighted_f_measure(pred: torch.Tensor, gt: torch.Tensor, beta2: float = 1.0) -> torch.Tensor:
    """Margolin et al.'s F^w_beta with beta^2 = ``beta2``; 0 for an all-background gt. Returns B."""
    pred, gt = prepare_sod(pred, gt)
    b, h, w = gt.shape
    gt_np = gt.cpu().numpy()
    out = torch.zeros(b, dtype=pred.dtype, device=pred.device)
    kernel = torch.as_tensor(matlab_gaussian(), dtype=pred.dtype, device=pred.device)[None, None]
    for i in range(b):
        if not gt_np[i].any():
            continue
        dist, idx = _nearest_foreground(gt_np[i])
        dist = torch.as_tensor(dist, dtype=pred.dtype, device=pred.device)
        idx = torch.as_tensor(idx, device=pred.device).flatten()
        g = gt[i]
        e = (pred[i] - g.to(pred.dtype)).abs()
        et = e.flatten()[idx].view(h, w)  # each pixel takes the error of its nearest gt pixel
        ea = F.conv2d(et[None, None], kernel, padding=kernel.shape[-1] // 2)[0, 0]
        min_e = torch.where(g & (ea < e), ea, e)
        weight = torch.where(g, torch.ones_like(dist), 2 - torch.exp(math.log(0.5) / 5 * dist))
        ew = min_e * weight
        tpw = g.sum() - ew[g].sum()
        fpw = ew[~g].sum()
        recall = 1 - ew[g].mean()
        precision = tpw / (tpw + fpw + EPS)
        out[i] = (1 + beta2) * recall * precision / (recall + beta2 * precision + EPS)
    return out


def mae(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of the normalised prediction against the binary gt. Returns B."""
    pred, gt = prepare_sod(pred, gt)
    return (pred - gt.to(pred.dtype)).abs().mean(dim=(1, 2))
