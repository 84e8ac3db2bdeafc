"""Pictures of the analyses, as PNG files (matplotlib's object API on the Agg canvas: no pyplot
state, no display needed). matplotlib is imported here only, when a picture is drawn."""
from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .spectra import Spectrum

FLOOR = 1e-17  # values below FLOOR * sigma_max are float64 zeros; drawn at the floor on log axes
MAX_LEGEND = 12


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def primary_view(s: Spectrum) -> bool:
    """The view compared across methods: dW for linears, the flattened ``c_out x rest`` for convs."""
    return s.view in ("matrix", "flat")


def shown_values(s: Spectrum) -> np.ndarray:
    """The leading ``max(2R, R + 4)`` singular values (enough to show the drop after the rank)."""
    n = min(s.singular_values.size, max(2 * s.rank, s.rank + 4))
    v = s.singular_values[:n]
    top = v[0] if v.size and v[0] > 0 else 1.0
    return np.maximum(v, top * FLOOR)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-") or "top"


def short_names(names: Sequence[str]) -> list[str]:
    """Run names without the ``<recipe>__`` prefix that all of them share (sweep runs)."""
    prefix = os.path.commonprefix(list(names))
    cut = prefix.rfind("__") + 2 if "__" in prefix else 0
    return [n[cut:] or n for n in names]


def plot_block_spectra(spectra: Sequence[Spectrum], out_dir: Path, title: str = "") -> list[Path]:
    """One PNG per block: a log-scale panel per view kind (matrix/flat, then each mode unfolding),
    one line per layer of the block. Returns the files written."""
    by_block: dict[str, list[Spectrum]] = defaultdict(list)
    for s in spectra:
        by_block[s.block].append(s)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for block, items in by_block.items():
        views = list(dict.fromkeys(s.view.split(":")[0] if s.view.startswith("mode") else s.view for s in items))
        views.sort(key=lambda v: (v not in ("matrix", "flat"), v))
        fig = _figure(3.6 * len(views), 3.2)
        axes = fig.subplots(1, len(views), squeeze=False)[0]
        for ax, view in zip(axes, views):
            lines = [s for s in items if s.view == view or s.view.split(":")[0] == view]
            for s in lines:
                v = shown_values(s)
                label = s.layer[len(block) + 1:] or s.layer
                if s.view.startswith("mode"):
                    label += f" ({s.view.split(':')[1]})"
                ax.semilogy(np.arange(1, v.size + 1), v, marker=".", label=label)
                ax.axvline(s.rank + 0.5, color="0.8", lw=0.6, zorder=0)
            ax.set_title(view if view != "flat" else "flat c_out x rest (LoRA's view)", fontsize=9)
            ax.set_xlabel("index")
            ax.grid(True, which="both", alpha=0.3)
            if len(lines) <= MAX_LEGEND:
                ax.legend(fontsize=6)
        axes[0].set_ylabel("singular value of dW")
        fig.suptitle(f"{title} {block}".strip(), fontsize=10)
        path = out_dir / f"spectra_{safe_name(block)}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths


def plot_summary(spectra: Sequence[Spectrum], path: Path, title: str = "") -> Path:
    """Per layer (primary view, model order): ranks, condition number, ||dW||/||W||, orthogonality."""
    rows = [s for s in spectra if primary_view(s)]
    x = np.arange(len(rows))
    fig = _figure(max(6.0, 0.18 * len(rows) + 2), 9.0)
    ax_rank, ax_cond, ax_rel, ax_orth = fig.subplots(4, 1, sharex=True)
    ax_rank.plot(x, [s.rank for s in rows], "k_", ms=10, label="adapter rank R")
    ax_rank.plot(x, [s.rank_tol for s in rows], "o", label="numerical rank (numpy tol)")
    ax_rank.plot(x, [s.rank_energy for s in rows], "s", mfc="none", label="99% energy rank")
    ax_rank.set_ylabel("rank")
    ax_rank.legend(fontsize=7)
    for ax, key, label in ((ax_cond, "cond", "condition number"), (ax_rel, "rel_update", "||dW|| / ||W||"),
                           (ax_orth, "orth_error", "||F^T F - I||_F")):
        values = np.array([getattr(s, key) for s in rows], dtype=float)
        ok = np.isfinite(values) & (values > 0)
        ax.semilogy(x[ok], values[ok], "o-", ms=3)
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    ax_orth.set_xticks(x, [s.layer for s in rows], rotation=90, fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    return path


def plot_metric_vs_params(names: Sequence[str], methods: Sequence[str], params: Sequence[float],
                          values: Sequence[float], metric: str, path: Path) -> Path:
    """The paper's Figure 2 view: ``metric`` against trainable parameters (log x), one marker style per method."""
    fig = _figure(6.0, 4.2)
    ax = fig.subplots()
    markers = dict(zip(dict.fromkeys(methods), "osD^v<>pX*"))
    names = short_names(names)
    for method in markers:
        idx = [i for i, m in enumerate(methods) if m == method and math.isfinite(values[i])]
        ax.scatter([params[i] for i in idx], [values[i] for i in idx], marker=markers[method], s=40, label=method)
        for i in idx:
            ax.annotate(names[i], (params[i], values[i]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel(metric)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def plot_sweep(points: Sequence[dict[str, str]], values: Sequence[float], x_key: str, metric: str,
               path: Path) -> Path:
    """The paper's Figure 6 view: ``metric`` against the swept ``x_key`` (equally spaced, in grid order),
    one line per combination of the other swept values."""
    x_values = list(dict.fromkeys(p[x_key] for p in points))
    lines: dict[str, dict[str, float]] = defaultdict(dict)
    for p, v in zip(points, values):
        other = ", ".join(f"{k}={p[k]}" for k in p if k != x_key) or metric
        lines[other][p[x_key]] = v
    fig = _figure(6.0, 4.2)
    ax = fig.subplots()
    for label, by_x in lines.items():
        xs = [i for i, xv in enumerate(x_values) if xv in by_x and math.isfinite(by_x[xv])]
        ax.plot(xs, [by_x[x_values[i]] for i in xs], "o-", label=label)
    ax.set_xticks(range(len(x_values)), x_values)
    ax.set_xlabel(x_key)
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path
