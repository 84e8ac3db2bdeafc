"""Float64 numpy references of the SOD / COD segmentation metrics (one image each), written from
the papers' formulas with PySODMetrics' conventions (slices and loops, matrix forms, scipy): the
oracle the torch metrics are tested against."""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

EPS = np.spacing(1)


# ------------------------------------------------------------------ float64 references (one image)
def ref_prepare(pred, gt):
    pred = pred.astype(np.float64)
    if pred.max() != pred.min():
        pred = (pred - pred.min()) / (pred.max() - pred.min())
    return pred, gt > 0.5


def ref_s_measure(pred, gt, alpha=0.5):
    pred, gt = ref_prepare(pred, gt)
    y = gt.mean()
    if y == 0:
        return 1 - pred.mean()
    if y == 1:
        return pred.mean()

    def s_obj(x):  # MATLAB std (N - 1; 0 for one element)
        sd = x.std(ddof=1) if x.size > 1 else 0.0
        return 2 * x.mean() / (x.mean() ** 2 + 1 + sd + EPS)

    obj = y * s_obj(pred[gt]) + (1 - y) * s_obj(1 - pred[~gt])
    h, w = gt.shape
    rr, cc = np.nonzero(gt)
    X, Y = int(np.round(cc.mean())) + 1, int(np.round(rr.mean())) + 1

    def ssim(p, g):
        n = p.size
        x, yy = p.mean(), g.mean()
        d = max(n - 1, 1)
        sx, sy = ((p - x) ** 2).sum() / d, ((g - yy) ** 2).sum() / d
        sxy = ((p - x) * (g - yy)).sum() / d
        a, b = 4 * x * yy * sxy, (x ** 2 + yy ** 2) * (sx + sy)
        return a / (b + EPS) if a != 0 else (1.0 if b == 0 else 0.0)

    g = gt.astype(np.float64)
    parts = [(pred[:Y, :X], g[:Y, :X]), (pred[:Y, X:], g[:Y, X:]), (pred[Y:, :X], g[Y:, :X]), (pred[Y:, X:], g[Y:, X:])]
    weights = [X * Y / (h * w), Y * (w - X) / (h * w), (h - Y) * X / (h * w)]
    weights.append(1 - sum(weights))
    region = sum(wt * ssim(p, q) for wt, (p, q) in zip(weights, parts) if p.size)
    return max(0.0, alpha * obj + (1 - alpha) * region)


def ref_e_measure(binary, gt):
    """Matrix form of E_phi: enhanced alignment matrix summed over pixels / (N - 1)."""
    fm, g = binary.astype(np.float64), gt.astype(np.float64)
    if g.sum() == 0:
        enhanced = 1 - fm
    elif g.sum() == g.size:
        enhanced = fm
    else:
        a, b = fm - fm.mean(), g - g.mean()
        enhanced = (2 * a * b / (a * a + b * b + EPS) + 1) ** 2 / 4
    return enhanced.sum() / (g.size - 1 + EPS)


def ref_e_curve(pred, gt):
    pred, gt = ref_prepare(pred, gt)
    q = np.floor(pred * 255)
    return np.array([ref_e_measure(q >= t, gt) for t in range(256)])


def ref_e_curve_by_cells(pred, gt):
    """The matrix form of ``ref_e_curve`` summed cell by cell: at each threshold every pixel falls in
    one of four (prediction, ground truth) cells whose enhanced alignment value is the same, so the
    sum is count x value over the cells. For images too large for 256 full matrices."""
    pred, gt = ref_prepare(pred, gt)
    q = np.floor(pred * 255).astype(np.int64).ravel()
    g = gt.ravel()
    n, n_fg = g.size, int(g.sum())
    fg_at_least = np.cumsum(np.bincount(q[g], minlength=256)[::-1])[::-1]  # gt fg pixels with q >= t
    bg_at_least = np.cumsum(np.bincount(q[~g], minlength=256)[::-1])[::-1]
    curve = []
    for t in range(256):
        tp, fp = fg_at_least[t], bg_at_least[t]
        mean_fm, mean_g = (tp + fp) / n, n_fg / n
        cells = [(tp, 1, 1), (fp, 1, 0), (n_fg - tp, 0, 1), (n - n_fg - fp, 0, 0)]  # (count, fm, g)
        if n_fg == 0:
            total = n - tp - fp
        elif n_fg == n:
            total = tp + fp
        else:
            total = 0.0
            for count, fm, gg in cells:
                a, b = fm - mean_fm, gg - mean_g
                total += count * (2 * a * b / (a * a + b * b + EPS) + 1) ** 2 / 4
        curve.append(total / (n - 1 + EPS))
    return np.array(curve)


def ref_weighted_f(pred, gt, beta2=1.0):
    pred, gt = ref_prepare(pred, gt)
    if not gt.any():
        return 0.0
    dst, (iy, ix) = ndimage.distance_transform_edt(~gt, return_indices=True)
    e = np.abs(pred - gt)
    et = e[iy, ix]
    k = np.exp(-np.add.outer(np.arange(-3, 4) ** 2, np.arange(-3, 4) ** 2) / 50.0)
    ea = ndimage.convolve(et, k / k.sum(), mode="constant", cval=0.0)
    min_e = np.where(gt & (ea < e), ea, e)
    b = np.where(gt, 1.0, 2 - np.exp(np.log(0.5) / 5 * dst))
    ew = min_e * b
    tpw = gt.sum() - ew[gt].sum()
    fpw = ew[~gt].sum()
    r, p = 1 - ew[gt].mean(), tpw / (tpw + fpw + EPS)
    return (1 + beta2) * r * p / (r + beta2 * p + EPS)


def ref_mae(pred, gt):
    pred, gt = ref_prepare(pred, gt)
    return np.abs(pred - gt).mean()


def ref_iou_dice_ber(pred, gt, threshold=0.5):
    """IoU, Dice (1 when both masks are empty) and the per-image BER in percent, and the counts
    (TP, TN, N_pos, N_neg) of the raw prediction ``> threshold``."""
    p, g = pred > threshold, gt > 0.5
    inter, union = np.sum(p & g), np.sum(p | g)
    iou = 1.0 if union == 0 else inter / union
    dice = 1.0 if union == 0 else 2 * inter / (p.sum() + g.sum())
    tp, tn, npos, nneg = inter, np.sum(~p & ~g), g.sum(), (~g).sum()
    tpr = tp / npos if npos else None
    tnr = tn / nneg if nneg else None
    tpr, tnr = (tpr if tpr is not None else tnr), (tnr if tnr is not None else tpr)
    return iou, dice, 100 * (1 - (tpr + tnr) / 2), np.array([tp, tn, npos, nneg], np.float64)


def ref_upsample(prob, size):
    """OpenCV's bilinear resize (half-pixel centres, like ``align_corners=False``) in float64."""
    h, w = size
    return cv2.resize(np.asarray(prob, np.float64), (w, h), interpolation=cv2.INTER_LINEAR)
