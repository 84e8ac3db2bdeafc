"""Depth pictures: RGB | ground truth | [base prediction] | prediction | AbsRel error, one PNG per
sample, each prediction titled with its own AbsRel and δ1.

Ground truth and predictions share one colour map and one scale bar in metres, so colours compare
across the panels; invalid ground-truth pixels are shown black. The column titles are also stored
in the PNG (text chunk ``Columns``, JSON), so tools and tests can read them back.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TILE_INCHES, DPI = 3.2, 100  # one column is 320 px wide


def score_line(scores: dict[str, float] | None) -> str:
    """``AbsRel 0.123  δ1 0.876`` (empty without scores, e.g. no valid ground-truth pixel)."""
    if not scores:
        return "no valid pixel"
    return f"AbsRel {scores['abs_rel']:.3f}  δ1 {scores['d1']:.3f}"


def depth_panel(rgb: np.ndarray, gt: np.ndarray, pred: np.ndarray, valid: np.ndarray, out_path: Path,
                title: str = "", max_abs_rel: float = 0.5, scores: dict[str, float] | None = None,
                base: np.ndarray | None = None, base_scores: dict[str, float] | None = None) -> Path:
    """Write one figure. rgb ``H x W x 3`` uint8 (at gt size), gt / pred / base ``H x W`` metres,
    valid ``H x W`` bool; scores / base_scores: per-image metrics (``abs_rel``, ``d1``) of pred /
    base. AbsRel error = |pred - gt| / gt on valid pixels, shown on [0, max_abs_rel]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preds = ([("base", base, base_scores)] if base is not None else []) + \
        [("adapted" if base is not None else "prediction", pred, scores)]
    vmax = float(max([gt[valid].max() if valid.any() else 1.0] + [np.percentile(p, 99) for _, p, _ in preds]))
    cmap = matplotlib.colormaps["turbo"].with_extremes(bad="black")
    err = np.where(valid, np.abs(pred - gt) / np.where(valid, gt, 1.0), np.nan)
    err_cmap = matplotlib.colormaps["magma"].with_extremes(bad="black")

    columns = ["RGB", "ground truth"] + [f"{name}\n{score_line(s)}" for name, _, s in preds] + \
        [f"|{preds[-1][0]} - gt| / gt"]
    h, w = gt.shape
    fig, axes = plt.subplots(1, len(columns), figsize=(len(columns) * TILE_INCHES, TILE_INCHES * h / w + 1.0),
                             dpi=DPI, constrained_layout=True)
    axes[0].imshow(rgb)
    axes[1].imshow(np.where(valid, gt, np.nan), cmap=cmap, vmin=0.0, vmax=vmax)
    for ax, (_, p, _) in zip(axes[2:], preds):
        im = ax.imshow(p, cmap=cmap, vmin=0.0, vmax=vmax)
    im_err = axes[-1].imshow(err, cmap=err_cmap, vmin=0.0, vmax=max_abs_rel)
    for ax, name in zip(axes, columns):
        ax.set_title(name, fontsize=10)
        ax.set_axis_off()
    fig.colorbar(im, ax=axes[1:-1], shrink=0.8, label="depth [m]")
    fig.colorbar(im_err, ax=axes[-1], shrink=0.8, label="|pred - gt| / gt")
    if title:
        fig.suptitle(title)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=DPI, metadata={"Title": title, "Columns": json.dumps(columns)})
    plt.close(fig)
    return out_path
