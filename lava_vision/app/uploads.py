"""An uploaded image checked before any model sees it: each refusal is an ``UploadError`` whose
message is shown in the page as it is (the server keeps serving).

Only the path the web framework stored the upload under is opened; the name the browser sent is
never used. The pixels come from ``lava_vision.data.images.read_rgb``, the reader of
``tools/predict.py`` and the datasets, so the app and the tool see identical arrays and follow one
colour rule (16-bit and float images by their range, palette, CMYK, greyscale; transparency and
undefined ranges refused, see ``data/images.py``). The app adds only a size limit, checked from the
header before decoding."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.images import ImageFormatError, ImageReadError, read_rgb

MAX_SIDE = 4096  # pixels per side: a 4096 x 4096 image is ~50 MB as RGB, and outputs are made at its size


class UploadError(ValueError):
    """An upload the app refuses; the message says why and what would be accepted."""


def limit_text() -> str:
    return f"at most {MAX_SIDE} x {MAX_SIDE} pixels"


def read_upload(path: str | Path) -> np.ndarray:
    """The uploaded image as ``H x W x 3`` uint8 RGB by ``read_rgb``'s rule; raises ``UploadError``
    for a file that is not a decodable image, is larger than ``MAX_SIDE`` on a side (checked from
    the header, before decoding) or that the colour rule refuses (saying why)."""
    try:
        with Image.open(path) as im:  # reads the header only
            size = im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UploadError(f"cannot read this file as an image ({type(e).__name__}); upload a PNG, JPEG, BMP, "
                          "TIFF or WebP picture") from e
    if max(size) > MAX_SIDE:
        raise UploadError(f"image too large: {size[0]} x {size[1]} pixels; the limit is {limit_text()}; "
                          "downscale it first")
    try:
        return read_rgb(path)  # decodes fully; a truncated file raises here
    except ImageFormatError as e:  # the reason without the server's temporary path
        raise UploadError(f"this image cannot be used: {e.reason}") from e
    except ImageReadError as e:
        raise UploadError(f"cannot decode this image completely (truncated or corrupt): {e.__cause__ or e}") from e
