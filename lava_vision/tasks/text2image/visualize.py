"""Image panels and grids for generated images (PIL only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..panels import save_png, titled_row

LABEL_H = 14


def to_pil(image: torch.Tensor) -> Image.Image:
    """``3 x H x W`` float in [0, 1] -> RGB PIL image."""
    arr = (image.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(arr)


def save_panel(tiles: dict[str, torch.Tensor], title: str, path: Path) -> Path:
    """Tiles (name -> ``3 x H x W``) side by side, enlarged like the segmentation panels (nearest,
    at least ``panels.MIN_TILE`` px), each under its name, with ``title`` above; written to ``path``."""
    arrays = [np.asarray(to_pil(t)) for t in tiles.values()]
    return save_png(titled_row(arrays, [[name] for name in tiles], heading=title), Path(path), list(tiles), title)


def save_grid(rows: list[list[torch.Tensor]], row_labels: list[str], col_labels: list[str], path: Path) -> Path:
    """A grid of equally sized ``3 x H x W`` images, rows x columns, with labels; written to ``path``.
    Tiles narrower than their column label are enlarged (nearest) so labels stay readable."""
    h, w = rows[0][0].shape[-2:]
    zoom = max(1, -(-(6 * max(len(s) for s in col_labels) + 4) // w))
    h, w = h * zoom, w * zoom
    left = max(8, 6 * max(len(s) for s in row_labels))
    canvas = Image.new("RGB", (left + w * len(col_labels), LABEL_H + h * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(col_labels):
        draw.text((left + c * w + 2, 1), label, fill="black")
    for r, (label, row) in enumerate(zip(row_labels, rows)):
        draw.text((2, LABEL_H + r * h + h // 2 - 5), label, fill="black")
        for c, img in enumerate(row):
            canvas.paste(to_pil(img).resize((w, h), Image.NEAREST), (left + c * w, LABEL_H + r * h))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
