"""Picture panels built from image tiles: small tiles enlarged by an integer factor (nearest
neighbour, so masks and pixels stay crisp), a title block above each tile, tiles side by side, and
the PNG written with its column titles as a text chunk (``Columns``, JSON) that tools and tests
read back. Text uses matplotlib's bundled DejaVu Sans (it has α and δ)."""
from __future__ import annotations

import json
import textwrap
from functools import lru_cache
from pathlib import Path

import numpy as np

MIN_TILE = 256  # a tile's shorter side is enlarged to at least this many pixels
FONT_SIZE, LINE_H, GAP = 15, 20, 6


@lru_cache(maxsize=4)
def font(size: int = FONT_SIZE):
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def enlarge(tile: np.ndarray, min_side: int = MIN_TILE) -> np.ndarray:
    """``H x W x 3`` uint8 enlarged by the smallest integer factor that makes ``min(H, W) >= min_side``."""
    k = max(1, -(-min_side // min(tile.shape[:2])))
    return tile.repeat(k, axis=0).repeat(k, axis=1) if k > 1 else tile


def text_block(lines: list[str], width: int, n_lines: int | None = None) -> np.ndarray:
    """White ``(n_lines * LINE_H + 4) x width x 3`` block with ``lines`` drawn, each shrunk to fit."""
    from PIL import Image, ImageDraw

    n = max(len(lines), n_lines or 0)
    block = Image.new("RGB", (width, n * LINE_H + 4), "white")
    draw = ImageDraw.Draw(block)
    for i, line in enumerate(lines):
        f = font()
        if f.getlength(line) > width - 6:  # shrink long lines instead of letting them run out
            f = font(max(8, int(FONT_SIZE * (width - 6) / f.getlength(line))))
        draw.text((3, 2 + i * LINE_H), line, fill="black", font=f)
    return np.asarray(block)


def titled_row(tiles: list[np.ndarray], titles: list[list[str]], heading: str = "") -> np.ndarray:
    """Tiles (``H x W x 3`` uint8, same height after ``enlarge``) side by side, ``GAP`` px apart,
    each under its title lines; an optional heading line above the whole row."""
    tiles = [enlarge(t) for t in tiles]
    n_lines = max(len(t) for t in titles)
    cols = [np.concatenate([text_block(lines, t.shape[1], n_lines), t], axis=0) for t, lines in zip(tiles, titles)]
    gap = np.full((cols[0].shape[0], GAP, 3), 255, np.uint8)
    row = np.concatenate([x for c in cols for x in (c, gap)][:-1], axis=1)
    if heading:  # wrapped at about the characters a line holds
        lines = textwrap.wrap(heading, max(10, int(row.shape[1] / (0.6 * FONT_SIZE))))
        row = np.concatenate([text_block(lines, row.shape[1]), row], axis=0)
    return row


def save_png(panel: np.ndarray, path: Path, columns: list[str], title: str = "") -> Path:
    """Write an RGB uint8 panel with its column titles (and title) as PNG text chunks."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("Columns", json.dumps(columns, ensure_ascii=False))
    if title:
        info.add_itxt("Title", title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(panel).save(path, pnginfo=info)
    return path


def read_columns(path: str | Path) -> list[str]:
    """The column titles stored in a panel PNG by ``save_png`` or the depth panel."""
    from PIL import Image

    with Image.open(path) as im:
        return json.loads(im.text["Columns"])
