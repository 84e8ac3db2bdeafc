"""What the page shows for each task, and the files it offers for download, built from the
``lava_vision.inference`` results (plain numpy; no web framework here, so it is testable alone).

Downloads are the files ``tools/predict.py`` writes, by the same writers, named from ``STEM``
(never from the uploaded file's name)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import inference as inf
from ..inference import BinaryMask, ClassProbabilities, DepthMap, GeneratedImage
from .sources import Source

STEM = "upload"


def write_outputs(result: Any, rgb: np.ndarray | None, out: Path) -> list[Path]:
    """``tools/predict.py``'s files for one input into ``out`` (created): ``predictions.csv``;
    ``upload_depth_mm.png``, ``_depth_m.npy``, ``_depth_color.png``; ``upload_mask.png``,
    ``_overlay.png``; or the generated PNG and ``prompts.csv``."""
    kind = view_of(result)  # raises for a type the app has no view of, before anything is written
    out.mkdir(parents=True, exist_ok=True)
    if kind == "classification":
        table = inf.classification_csv(out / "predictions.csv", result.classes)
        table.write(inf.classification_row(STEM, result))
        table.close()
        return [table.path]
    if kind == "depth":
        return inf.write_depth(result, out, STEM)
    if kind == "segmentation":
        return inf.write_mask(result, rgb, out, STEM)
    image = inf.write_generated(result, out, 0)
    listing = inf.CsvRows(out / "prompts.csv", ["file", "prompt", "seed"])
    listing.write([image.name, result.prompt, result.seed])
    listing.close()
    return [image, listing.path]


def view_of(result: Any) -> str:
    """Which task view shows ``result``: by its type, so a task of one's own whose ``predict_image``
    returns one of these types is shown like the built-in task of that type."""
    for kind, cls in (("classification", ClassProbabilities), ("depth", DepthMap), ("segmentation", BinaryMask),
                      ("text2image", GeneratedImage)):
        if isinstance(result, cls):
            return kind
    raise TypeError(f"the app shows ClassProbabilities, DepthMap, BinaryMask and GeneratedImage results, "
                    f"not a {type(result).__name__}")


def class_confidences(result: ClassProbabilities) -> dict[str, float]:
    """``{class name: probability}`` for the bar chart (the exact float32 values, as in the CSV)."""
    return result.as_dict()


def depth_figure(base: np.ndarray, adapted: np.ndarray, row: int) -> Figure:
    """Base | adapted ``H x W`` depth (metres) on one colour scale with its colour bar, and both
    depths along image row ``row`` (marked by a dashed line) below."""
    row = int(np.clip(row, 0, base.shape[0] - 1))
    lo, hi = float(min(base.min(), adapted.min())), float(max(base.max(), adapted.max()))
    fig = Figure(figsize=(9, 7), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 2])
    axes = [fig.add_subplot(grid[0, i]) for i in range(2)]
    for ax, depth, title in zip(axes, (base, adapted), ("base", "adapted")):
        shown = ax.imshow(depth, cmap="turbo", vmin=lo, vmax=hi)
        ax.axhline(row, color="white", linestyle="--", linewidth=1)
        ax.set_title(f"{title}: {depth.min():.2f} .. {depth.max():.2f} m")
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, label="depth (m), near = blue", shrink=0.9)
    profile = fig.add_subplot(grid[1, :])
    x = np.arange(base.shape[1])
    profile.plot(x, base[row], color="0.45", label="base")
    profile.plot(x, adapted[row], color="tab:blue", label="adapted")
    profile.set(xlabel="column (pixels)", ylabel="depth (m)", title=f"depth along row {row} (dashed line)")
    profile.legend()
    profile.grid(alpha=0.3)
    return fig


def probability_figure(base: np.ndarray, adapted: np.ndarray) -> Figure:
    """Base | adapted ``H x W`` foreground probability, 0..1, with the colour bar; the contour
    at 0.5 is the mask's edge."""
    fig = Figure(figsize=(9, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, prob, title in zip(axes, (base, adapted), ("base", "adapted")):
        shown = ax.imshow(prob, cmap="viridis", vmin=0.0, vmax=1.0)
        if prob.min() < 0.5 < prob.max():
            ax.contour(prob, levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(f"{title}: {100 * float((prob > 0.5).mean()):.1f}% foreground")
        ax.set_axis_off()
    fig.colorbar(shown, ax=list(axes), label="foreground probability (mask: > 0.5)", shrink=0.9)
    return fig


def card_markdown(source: Source) -> str:
    """The entry's facts and its recorded metrics with the split they were measured on."""
    lines = [f"**{source.label}**", ""]
    lines += [f"- {k}: `{v}`" for k, v in source.facts.items()]
    if not source.metrics:
        lines += ["", "No evaluation recorded for this run (`python tools/eval.py RECIPE --adapter RUN` writes one)."]
        return "\n".join(lines)
    lines += ["", f"Metrics on split **{source.split}**:", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in source.metrics.items()]
    return "\n".join(lines)
