"""Each task's natural output files, as tools of the field write them.

classification: one CSV row per image (file, predicted class, then one probability column per
class name); depth: 16-bit PNG in millimetres (the NYU / KITTI-raw convention, 0 = no value),
float32 .npy in metres and a coloured picture; segmentation: a 0/255 mask PNG and an overlay,
at the image's size; text2image: one PNG per prompt and seed, listed in ``prompts.csv``.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import IO

import numpy as np

from .results import BinaryMask, ClassProbabilities, DepthMap, GeneratedImage

MM_MAX = np.iinfo(np.uint16).max  # 65.535 m is the farthest a millimetre PNG can hold


def _imwrite(path: Path, image: np.ndarray) -> Path:
    """RGB (H x W x 3) or single-channel image; PNG keeps uint16 as 16 bits."""
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path


class CsvRows:
    """A CSV file written row by row, each row flushed at once: an interrupted folder keeps every
    finished input."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self.write(header)

    def write(self, row: list) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def classification_csv(path: Path, classes: list[str]) -> CsvRows:
    """``predictions.csv`` columns: ``file, class`` (the predicted one), then one per class name."""
    clash = {"file", "class"} & set(classes)
    if clash:
        raise ValueError(f"class names {sorted(clash)} collide with the CSV's own columns 'file' and 'class'")
    return CsvRows(path, ["file", "class", *classes])


def classification_row(name: str, result: ClassProbabilities) -> list:
    """One CSV row; probabilities as exact float32 values (repr), so the file holds the model's numbers."""
    return [name, result.label, *(repr(float(p)) for p in result.probs)]


def colorize_depth(depth: np.ndarray) -> np.ndarray:
    """``H x W`` metres -> ``H x W x 3`` uint8 turbo colours, near = blue, scaled to this map's own
    min..max (as Depth-Anything's own script shows relative depth)."""
    import matplotlib

    lo, hi = float(np.min(depth)), float(np.max(depth))
    norm = (depth - lo) / (hi - lo) if hi > lo else np.zeros_like(depth)
    return (matplotlib.colormaps["turbo"](norm)[..., :3] * 255).round().astype(np.uint8)


def write_depth(result: DepthMap, out_dir: Path, stem: str) -> list[Path]:
    """``<stem>_depth_mm.png`` (uint16 mm = round(1000 * metres)), ``<stem>_depth_m.npy`` (float32
    metres, exact) and ``<stem>_depth_color.png``. Depth beyond 65.535 m saturates the PNG (with a
    warning); the .npy keeps it."""
    depth = result.depth.astype(np.float32)
    if not np.isfinite(depth).all():
        raise ValueError(f"{stem}: the predicted depth has non-finite values; nothing written")
    mm = np.round(depth.astype(np.float64) * 1000.0)
    over = int((mm > MM_MAX).sum())
    if over:
        print(f"warning: {stem}: {over} pixels beyond {MM_MAX / 1000} m saturate the 16-bit PNG; "
              f"the .npy holds their values", file=sys.stderr)
    out = Path(out_dir)
    np.save(out / f"{stem}_depth_m.npy", depth)
    return [_imwrite(out / f"{stem}_depth_mm.png", np.clip(mm, 0, MM_MAX).astype(np.uint16)),
            out / f"{stem}_depth_m.npy",
            _imwrite(out / f"{stem}_depth_color.png", colorize_depth(depth))]


def write_mask(result: BinaryMask, rgb: np.ndarray, out_dir: Path, stem: str) -> list[Path]:
    """``<stem>_mask.png`` (0 / 255, the image's size) and ``<stem>_overlay.png`` (mask tinted green
    over the image)."""
    from ..tasks.segmentation.visualize import TP_COLOUR, blend

    mask = result.mask
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"{stem}: mask {mask.shape} is not at the image's size {rgb.shape[:2]}")
    out = Path(out_dir)
    overlay = blend(rgb, mask, TP_COLOUR).clip(0, 255).astype(np.uint8)
    return [_imwrite(out / f"{stem}_mask.png", mask.astype(np.uint8) * 255),
            _imwrite(out / f"{stem}_overlay.png", overlay)]


def write_generated(result: GeneratedImage, out_dir: Path, index: int) -> Path:
    """``<index>_<prompt words>_seed<seed>.png`` (list it with ``[file, prompt, seed]`` in ``prompts.csv``)."""
    from ..tasks.classification.visualize import safe_name

    return _imwrite(Path(out_dir) / f"{index:04d}_{safe_name(result.prompt)[:40]}_seed{result.seed}.png", result.image)
