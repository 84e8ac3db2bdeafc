"""Reading image files strictly: a truncated or corrupt file is an error naming it, and pixels
are read by one rule (``read_rgb``, used by the datasets, ``tools/predict.py`` and the app alike).

``cv2.imread`` decodes a truncated JPEG "successfully", filling the missing part with grey and
only printing a libjpeg warning; Pillow raises instead (unless a library sets
``ImageFile.LOAD_TRUNCATED_IMAGES``, which is refused here). So colour images are decoded by
Pillow (pixel-identical to ``cv2.imread`` on JPEG and PNG, checked in tests/test_images.py), and
EXIF orientation is applied as ``cv2.imread`` does. Greyscale JPEGs (masks) are decoded by
libjpeg straight to luma through Pillow's ``draft("L")``, which is what ``cv2.IMREAD_GRAYSCALE``
does; other greyscale formats keep OpenCV's decoder (libpng refuses truncated files itself).

The colour rule (``read_rgb``: ``H x W x 3`` uint8, value v of the file's range -> the nearest of
0..255):

* 8-bit RGB as stored; 8-bit greyscale (and 1-bit) -> the same value in all 3 channels;
* 16-bit (PNG / TIFF, greyscale or colour) -> ``round(v * 255 / 65535)``, read at full depth (Pillow
  alone would keep only the high byte of 16-bit colour);
* floating point (mode ``F``, e.g. a float TIFF) in [0, 1] -> ``round(v * 255)``; a float image with
  a value outside [0, 1], NaN or inf is refused: its range is not defined;
* palette (``P``) -> RGB through its palette; CMYK -> RGB by Pillow's conversion
  (``R = (255 - C)(255 - K) / 255``, rounded);
* alpha (RGBA, LA, a palette with transparency): a fully opaque alpha channel is dropped; any
  transparent pixel is refused (what it should show depends on a background the file does not
  name: flatten it first);
* anything else (32-bit integer ``I``, ``LAB``, ``HSV``, ...) is refused naming the file and mode.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps


class ImageReadError(ValueError):
    """An image file that cannot be decoded completely, or whose pixels have no defined RGB reading;
    the message names it (``path``) and says why (``reason``)."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


class ImageFormatError(ImageReadError):
    """A decodable image refused by the colour rule (its mode, dtype, range or transparency)."""


def _rawmodes(im: Image.Image) -> list[str]:
    """The raw (file) modes of the image's tiles, e.g. ``RGB;16B`` for a 16-bit colour PNG."""
    out = []
    for tile in im.tile:
        args = tile[3]
        raw = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else ""
        out.append(raw if isinstance(raw, str) else "")
    return out


def _open(path: Path, gray_jpeg: bool = False) -> Image.Image:
    return _open_full(path, gray_jpeg)[0]


def _open_full(path: Path, gray_jpeg: bool = False) -> tuple[Image.Image, bool, int]:
    """(decoded image with EXIF orientation applied, whether its colour samples are 16-bit,
    the EXIF orientation tag)."""
    if not path.is_file():
        raise FileNotFoundError(f"image {str(path)!r} does not exist")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ImageReadError(path, "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set (by some library), so a "
                                   "truncated image would load with grey fill; unset it")
    try:
        with Image.open(path) as im:
            wide = im.mode in ("RGB", "RGBA", "LA") and any(";16" in r for r in _rawmodes(im))
            if gray_jpeg:
                im.draft("L", im.size)
            im.load()  # decodes everything now: a truncated file raises here
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            return ImageOps.exif_transpose(im), wide, orientation
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageReadError(path, f"cannot decode image ({type(e).__name__}: {e})") from e


def open_rgb(path: str | Path) -> Image.Image:
    """The image as a fully decoded RGB ``PIL.Image`` (EXIF orientation applied), by ``read_rgb``'s rule."""
    return Image.fromarray(read_rgb(path), "RGB")


def _oriented(arr: np.ndarray, orientation: int) -> np.ndarray:
    """``arr`` (H x W [x C]) turned as Pillow's ``exif_transpose`` turns an image with this tag:
    Pillow moves an index image, and the pixels follow."""
    if orientation in (1, 0) or orientation > 8:
        return arr
    h, w = arr.shape[:2]
    index = Image.fromarray(np.arange(h * w, dtype=np.int32).reshape(h, w), "I")
    exif = Image.Exif()
    exif[0x0112] = orientation
    index.info["exif"] = exif.tobytes()
    moved = np.asarray(ImageOps.exif_transpose(index))
    return arr.reshape(h * w, *arr.shape[2:])[moved]


def _wide_pixels(path: Path, orientation: int) -> np.ndarray:
    """A 16-bit colour file at full depth: ``H x W x C`` uint16 RGB[A] (OpenCV reads every bit; Pillow
    checked the file decodes completely)."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.dtype != np.uint16 or arr.ndim not in (2, 3):
        raise ImageReadError(path, "cannot decode its 16-bit samples (OpenCV could not read them)")
    if arr.ndim == 3:
        arr = arr[..., [2, 1, 0, 3][:arr.shape[2]]] if arr.shape[2] in (3, 4) else arr
    return _oriented(arr, orientation)


def _opaque(path: str | Path, rgba: np.ndarray, top: int, what: str) -> np.ndarray:
    """The colour channels of ``rgba`` (the last channel is alpha of maximum ``top``) when fully opaque."""
    alpha = rgba[..., -1]
    clear = int((alpha < top).sum())
    if clear:
        raise ImageFormatError(path, f"{what} with transparency ({clear} pixel(s) with alpha below {top}); a "
                                     "transparent pixel has no colour of its own: flatten it onto a background first")
    return rgba[..., :-1]


def _to_uint8(path: str | Path, arr: np.ndarray) -> np.ndarray:
    """Pixel values by the file's range -> 0..255 (see the module doc)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:  # round(v * 255 / 65535): v / 257 is never a tie
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ImageFormatError(path, f"{arr.dtype} pixels that are not finite (NaN or inf)")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageFormatError(path, f"{arr.dtype} pixels outside [0, 1] (min {lo:g}, max {hi:g}); a "
                                         "floating-point image must hold intensities in [0, 1]")
        return np.rint(arr.astype(np.float64) * 255.0).astype(np.uint8)
    raise ImageFormatError(path, f"{arr.dtype} pixels have no defined range")


_GREY16 = ("I;16", "I;16L", "I;16B", "I;16N")


def rgb_pixels(im: Image.Image, where: str | Path = "image") -> np.ndarray:
    """A decoded ``PIL.Image`` -> ``H x W x 3`` uint8 by the colour rule of this module (refusals are
    ``ImageFormatError`` naming ``where``). Its samples are taken as the mode holds them."""
    mode = im.mode
    if mode in ("RGB", "L"):
        arr = np.asarray(im)
    elif mode in ("1", "YCbCr", "CMYK"):
        arr = np.asarray(im.convert("L" if mode == "1" else "RGB"))
    elif mode == "P":
        has_alpha = "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")
        arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
        if has_alpha:
            arr = _opaque(where, arr, 255, "a palette")
    elif mode in ("RGBA", "LA", "PA"):
        arr = np.asarray(im.convert("RGBA") if mode == "PA" else im)
        arr = _opaque(where, arr, 255, mode)
    elif mode in _GREY16:
        arr = np.asarray(im).astype(np.uint16)
    elif mode == "F":
        arr = np.asarray(im)
    elif mode == "I":
        raise ImageFormatError(where, "32-bit integer pixels (mode 'I', int32): their range is not defined; save "
                                      "the image as 8- or 16-bit")
    else:
        raise ImageFormatError(where, f"image mode {mode!r} has no defined RGB reading; convert it to 8- or 16-bit "
                                      "RGB or greyscale")
    arr = _to_uint8(where, arr)
    if arr.ndim == 2 or arr.shape[2] == 1:
        arr = np.repeat(arr.reshape(*arr.shape[:2], 1), 3, axis=2)
    return np.ascontiguousarray(arr)


def read_rgb(path: str | Path) -> np.ndarray:
    """``H x W x 3`` uint8 RGB by the colour rule of the module doc; a file refused by it raises
    ``ImageFormatError`` naming the file and its mode / dtype, an undecodable one ``ImageReadError``."""
    path = Path(path)
    im, wide, orientation = _open_full(path)
    if not wide:
        return rgb_pixels(im, path)
    arr = _wide_pixels(path, orientation)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        arr = _opaque(path, arr, 65535, "16-bit " + ("LA" if arr.shape[2] == 2 else "RGBA"))
    rgb = _to_uint8(path, arr)
    if rgb.ndim == 2 or rgb.shape[2] == 1:
        rgb = np.repeat(rgb.reshape(*rgb.shape[:2], 1), 3, axis=2)
    return np.ascontiguousarray(rgb)


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
        raise ImageReadError(path, "cannot decode image (OpenCV could not read it)")
    return gray
