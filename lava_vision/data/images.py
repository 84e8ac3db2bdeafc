"""Reading image files strictly: a truncated or corrupt file is an error naming it.

``cv2.imread`` decodes a truncated JPEG "successfully", filling the missing part with grey and
only printing a libjpeg warning; Pillow raises instead (unless a library sets
``ImageFile.LOAD_TRUNCATED_IMAGES``, which is refused here). So colour images are decoded by
Pillow (pixel-identical to ``cv2.imread`` on JPEG and PNG, checked in tests/test_images.py), and
EXIF orientation is applied as ``cv2.imread`` does. Greyscale JPEGs (masks) are decoded by
libjpeg straight to luma through Pillow's ``draft("L")``, which is what ``cv2.IMREAD_GRAYSCALE``
does; other greyscale formats keep OpenCV's decoder (libpng refuses truncated files itself).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps


class ImageReadError(ValueError):
    """An image file that cannot be decoded completely; the message names it."""


def _open(path: Path, gray_jpeg: bool = False) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(f"image {str(path)!r} does not exist")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ImageReadError(f"{path}: PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set (by some library), so a "
                             "truncated image would load with grey fill; unset it")
    try:
        with Image.open(path) as im:
            if gray_jpeg:
                im.draft("L", im.size)
            im.load()  # decodes everything now: a truncated file raises here
            return ImageOps.exif_transpose(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from e


def open_rgb(path: str | Path) -> Image.Image:
    """The image as a fully decoded RGB ``PIL.Image`` (EXIF orientation applied)."""
    return _open(Path(path)).convert("RGB")


def read_rgb(path: str | Path) -> np.ndarray:
    """``H x W x 3`` uint8 RGB."""
    return np.asarray(open_rgb(path))


def read_gray(path: str | Path) -> np.ndarray:
    """``H x W`` uint8, the same values ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` gives for an intact file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {str(path)!r} does not exist")
    with open(path, "rb") as f:
        is_jpeg = f.read(3) == b"\xff\xd8\xff"
    if is_jpeg:
        return np.asarray(_open(path, gray_jpeg=True).convert("L"))
    import cv2

    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise ImageReadError(f"{path}: cannot decode image (OpenCV could not read it)")
    return gray
