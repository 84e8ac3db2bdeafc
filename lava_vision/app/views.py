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


def depth_figure(maps: dict[str, np.ndarray], row: int) -> Figure:
    """Each ``H x W`` depth (metres) of ``{title: depth}`` (base | adapted, or base | each adapter
    alone | mix) on one colour scale with its colour bar, and all along image row ``row`` (marked
    by a dashed line) below."""
    first = next(iter(maps.values()))
    row = int(np.clip(row, 0, first.shape[0] - 1))
    lo, hi = float(min(d.min() for d in maps.values())), float(max(d.max() for d in maps.values()))
    fig = Figure(figsize=(4.5 * len(maps), 7), layout="constrained")
    grid = fig.add_gridspec(2, len(maps), height_ratios=[3, 2])
    axes = [fig.add_subplot(grid[0, i]) for i in range(len(maps))]
    for ax, (title, depth) in zip(axes, maps.items()):
        shown = ax.imshow(depth, cmap="turbo", vmin=lo, vmax=hi)
        ax.axhline(row, color="white", linestyle="--", linewidth=1)
        ax.set_title(f"{title}: {depth.min():.2f} .. {depth.max():.2f} m")
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, label="depth (m), near = blue", shrink=0.9)
    profile = fig.add_subplot(grid[1, :])
    x = np.arange(first.shape[1])
    for i, (title, depth) in enumerate(maps.items()):  # base grey, the others in the usual colour cycle
        profile.plot(x, depth[row], color="0.45" if i == 0 else f"C{i - 1}", label=title)
    profile.set(xlabel="column (pixels)", ylabel="depth (m)", title=f"depth along row {row} (dashed line)")
    profile.legend()
    profile.grid(alpha=0.3)
    return fig


def probability_figure(maps: dict[str, np.ndarray]) -> Figure:
    """Each ``H x W`` foreground probability of ``{title: prob}``, 0..1, with the colour bar; the
    contour at 0.5 is the mask's edge."""
    fig = Figure(figsize=(4.5 * len(maps), 4), layout="constrained")
    axes = fig.subplots(1, len(maps))
    for ax, (title, prob) in zip(axes, maps.items()):
        shown = ax.imshow(prob, cmap="viridis", vmin=0.0, vmax=1.0)
        if prob.min() < 0.5 < prob.max():
            ax.contour(prob, levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(f"{title}: {100 * float((prob > 0.5).mean()):.1f}% foreground")
        ax.set_axis_off()
    fig.colorbar(shown, ax=list(axes), label="foreground probability (mask: > 0.5)", shrink=0.9)
    return fig


def card_markdown(source: Source, no_mix: str = "") -> str:
    """The entry's facts and its recorded metrics with the split they were measured on; for a
    shared base, how to mix them, or ``no_mix``: why they cannot be mixed."""
    lines = [f"**{source.label}**", ""]
    lines += [f"- {k}: `{v}`" for k, v in source.facts.items()]
    if source.kind == "shared" and no_mix:
        lines += ["", "Each entry's metrics are on its own card. **These entries cannot be mixed**: each saves its "
                  f"own copy of a module (such as its own classifier head), so each is shown alone and there is "
                  f"no strength slider ({no_mix})."]
        return "\n".join(lines)
    if source.kind == "shared":
        lines += ["", "Each entry's metrics are on its own card. Set each adapter's strength with its slider "
                  "(negative subtracts it); the mix is base + the weighted sum of the adapters' updates."]
        return "\n".join(lines)
    if not source.metrics:
        lines += ["", "No evaluation recorded for this run (`python tools/eval.py RECIPE --adapter RUN` writes one)."]
        return "\n".join(lines)
    lines += ["", f"Metrics on split **{source.split}**:", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in source.metrics.items()]
    return "\n".join(lines)
