"""Depth pictures: RGB | ground truth | prediction | AbsRel error, one PNG per sample.

Ground truth and prediction share one colour map and one scale bar in metres, so colours compare
across the two panels; invalid ground-truth pixels are shown black.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def depth_panel(rgb: np.ndarray, gt: np.ndarray, pred: np.ndarray, valid: np.ndarray, out_path: Path,
                title: str = "", max_abs_rel: float = 0.5) -> Path:
    """Write one figure. rgb ``H x W x 3`` uint8 (at gt size), gt / pred ``H x W`` metres,
    valid ``H x W`` bool. AbsRel = |pred - gt| / gt on valid pixels, shown on [0, max_abs_rel]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vmax = float(max(gt[valid].max() if valid.any() else 1.0, np.percentile(pred, 99)))
    cmap = matplotlib.colormaps["turbo"].with_extremes(bad="black")
    err = np.where(valid, np.abs(pred - gt) / np.where(valid, gt, 1.0), np.nan)
    err_cmap = matplotlib.colormaps["magma"].with_extremes(bad="black")

    h, w = gt.shape
    fig, axes = plt.subplots(1, 4, figsize=(4 * 3.2, 3.2 * h / w + 0.8), constrained_layout=True)
    axes[0].imshow(rgb)
    axes[0].set_title("RGB")
    axes[1].imshow(np.where(valid, gt, np.nan), cmap=cmap, vmin=0.0, vmax=vmax)
    axes[1].set_title("ground truth")
    im = axes[2].imshow(pred, cmap=cmap, vmin=0.0, vmax=vmax)
    axes[2].set_title("prediction")
    im_err = axes[3].imshow(err, cmap=err_cmap, vmin=0.0, vmax=max_abs_rel)
    mean_err = float(np.nanmean(err)) if valid.any() else float("nan")
    axes[3].set_title(f"AbsRel (mean {mean_err:.3f})")
    for ax in axes:
        ax.set_axis_off()
    fig.colorbar(im, ax=axes[1:3], shrink=0.8, label="depth [m]")
    fig.colorbar(im_err, ax=axes[3], shrink=0.8, label="|pred - gt| / gt")
    if title:
        fig.suptitle(title)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path
