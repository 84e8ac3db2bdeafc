"""An uploaded image checked before any model sees it: each refusal is an ``UploadError`` whose
message is shown in the page as it is (the server keeps serving).

Only the path the web framework stored the upload under is opened; the name the browser sent is
never used. The pixels come from ``lava_vision.inference.read_rgb``, the reader of
``tools/predict.py``, so the app and the tool see identical arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.images import ImageReadError, read_rgb

MAX_SIDE = 4096  # pixels per side: a 4096 x 4096 image is ~50 MB as RGB, and outputs are made at its size
COLOUR_MODES = {"RGB", "YCbCr", "P"}  # 3 colour channels (a palette expands to RGB)
ALPHA_MODES = {"RGBA", "PA"}  # accepted only when fully opaque (the alpha channel then says nothing)
BANDS_SAID = {"1": "1 channel (black and white)", "L": "1 channel (greyscale)", "I": "1 channel (greyscale)",
              "I;16": "1 channel (16-bit greyscale)", "F": "1 channel (floating-point)",
              "LA": "2 channels (greyscale + alpha)", "CMYK": "4 channels (CMYK)"}


class UploadError(ValueError):
    """An upload the app refuses; the message says why and what would be accepted."""


def limit_text() -> str:
    return f"at most {MAX_SIDE} x {MAX_SIDE} pixels"


def read_upload(path: str | Path) -> np.ndarray:
    """The uploaded image as ``H x W x 3`` uint8 RGB; raises ``UploadError`` for a file that is not
    a decodable image, is larger than ``MAX_SIDE`` on a side (checked from the header, before
    decoding) or has other than 3 colour channels (greyscale, CMYK, transparency)."""
    try:
        with Image.open(path) as im:  # reads the header only
            size, mode = im.size, im.mode
            transparent_palette = mode == "P" and "transparency" in im.info
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UploadError(f"cannot read this file as an image ({type(e).__name__}); upload a PNG, JPEG, BMP, "
                          "TIFF or WebP picture") from e
    if max(size) > MAX_SIDE:
        raise UploadError(f"image too large: {size[0]} x {size[1]} pixels; the limit is {limit_text()}; "
                          "downscale it first")
    if mode not in COLOUR_MODES | ALPHA_MODES or transparent_palette:
        if transparent_palette:
            said = "a palette with transparency"
        else:
            said = BANDS_SAID.get(mode) or f"{Image.getmodebands(mode)} channels (mode {mode})"
        raise UploadError(f"wrong number of channels: this image has {said}; the models take 3-channel RGB "
                          "colour images; convert it to RGB first")
    try:
        rgb = read_rgb(path)  # decodes fully; a truncated file raises here
        if mode in ALPHA_MODES:
            with Image.open(path) as im:
                alpha_min = im.getchannel("A").getextrema()[0]
            if alpha_min < 255:
                raise UploadError("wrong number of channels: this image has 4 channels with transparency (RGBA); "
                                  "the models take 3-channel RGB colour images; flatten it onto a background "
                                  "first")
    except ImageReadError as e:
        raise UploadError(f"cannot decode this image completely (truncated or corrupt): {e.__cause__ or e}") from e
    return rgb
