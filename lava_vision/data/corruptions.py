"""CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019), with the CIFAR parameter tables of
their ``make_cifar_c.py`` (not ImageNet-C's, which are tuned for 224 px images).

Each corruption maps an ``H x W x 3`` uint8 RGB image to a uint8 image of the same shape; the
float result in [0, 255] is truncated to uint8 as the published script's ``np.uint8(...)`` does.
Random corruptions draw from ``np.random.default_rng([seed, index])``: the same photo (``index``)
gets the same noise in every run and every split, so the protocol's hold-outs stay fixed.
A name joined with ``+`` (``defocus_blur+gaussian_noise``) applies each corruption in turn, left
to right, each truncated to uint8 as alone; the first draws from ``[seed, index]`` (as alone), the
j-th (j >= 1) from ``[seed, index, j]``.

    x = image / 255
    gaussian_noise   clip(x + N(0, c^2), 0, 1)                 c = .04 .06 .08 .09 .10
    shot_noise       clip(Poisson(x * c) / c, 0, 1)             c = 500 250 100 75 50
    speckle_noise    clip(x + x * N(0, c^2), 0, 1)              c = .06 .10 .12 .16 .20
    gaussian_blur    Gaussian filter, sigma c                    c = .4 .6 .7 .8 1
    defocus_blur     per channel, a normalised disk of radius r, Gaussian-smoothed by sigma a
                     (the script's ``disk``), cv2.filter2D       (r, a) = (.3,.4) (.4,.5) (.5,.6) (1,.2) (1.5,.1)
    contrast         clip((x - m) * c + m, 0, 1), m the per-channel image mean
                                                                 c = .75 .5 .4 .3 .15
    jpeg_compression PIL JPEG at quality c                       c = 80 65 58 50 40
    pixelate         box-downsample to 32c, back up with box     c = .95 .9 .85 .75 .65
"""
from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)
PARAMS: dict[str, tuple] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
}
CORRUPTIONS = tuple(PARAMS)


def disk(radius: float, alias_blur: float) -> np.ndarray:
    """The defocus kernel of ``make_cifar_c.py``: the pixels within ``radius`` of the centre of a
    17 x 17 grid, normalised to sum 1, then Gaussian-smoothed (3 x 3, sigma ``alias_blur``)."""
    import cv2

    grid = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    ksize = (3, 3) if radius <= 8 else (5, 5)
    x, y = np.meshgrid(grid, grid)
    kernel = ((x ** 2 + y ** 2) <= radius ** 2).astype(np.float32)
    kernel /= kernel.sum()
    return cv2.GaussianBlur(kernel, ksize=ksize, sigmaX=alias_blur)


def _gaussian_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1)


def _shot_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.poisson(x * c) / c, 0, 1)


def _speckle_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(x + x * rng.normal(size=x.shape, scale=c), 0, 1)


def _gaussian_blur(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    # = skimage.filters.gaussian(x, sigma=c, channel_axis=-1), which make_cifar_c.py calls
    return np.clip(gaussian_filter(x, sigma=(c, c, 0), mode="nearest", truncate=4.0), 0, 1)


def _defocus_blur(x: np.ndarray, c: tuple, rng: np.random.Generator) -> np.ndarray:
    import cv2

    kernel = disk(radius=c[0], alias_blur=c[1])
    x32 = x.astype(np.float32)
    return np.clip(np.stack([cv2.filter2D(x32[..., d], -1, kernel) for d in range(3)], axis=-1), 0, 1)


def _contrast(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1)


CORRUPT_FLOAT: dict[str, Callable] = {"gaussian_noise": _gaussian_noise, "shot_noise": _shot_noise,
                                      "speckle_noise": _speckle_noise, "gaussian_blur": _gaussian_blur,
                                      "defocus_blur": _defocus_blur, "contrast": _contrast}


def _pil(image: np.ndarray, name: str, c: float) -> np.ndarray:
    from PIL import Image

    im = Image.fromarray(image)
    if name == "jpeg_compression":
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=c)
        return np.asarray(Image.open(buf).convert("RGB"))
    h, w = image.shape[:2]  # pixelate
    small = im.resize((int(w * c), int(h * c)), Image.BOX)
    return np.asarray(small.resize((w, h), Image.BOX))


def check_corruption(name: str, severity: int) -> None:
    """Raise ValueError naming the bad value (``name`` may join several corruptions with ``+``)."""
    parts = name.split("+")
    if any(part not in PARAMS for part in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"corruption {name!r}: expected one of {CORRUPTIONS}, or several distinct ones "
                         "joined with '+'")
    if severity not in SEVERITIES:
        raise ValueError(f"corruption severity {severity!r}: expected one of {SEVERITIES}")


def corrupt(image: np.ndarray, name: str, severity: int, seed: int = 0, index: int = 0) -> np.ndarray:
    """``image`` (``H x W x 3`` uint8) corrupted by ``name`` at ``severity`` (1..5); deterministic in
    ``(seed, index)``; ``a+b`` is ``a`` then ``b`` (module docstring)."""
    check_corruption(name, severity)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"corrupt: expected an H x W x 3 uint8 image, got {image.dtype} {image.shape}")
    for j, part in enumerate(name.split("+")):
        image = _corrupt_one(image, part, PARAMS[part][severity - 1], [seed, index] + [j] * (j > 0))
    return image


def _corrupt_one(image: np.ndarray, name: str, c, rng_seed: list[int]) -> np.ndarray:
    if name in ("jpeg_compression", "pixelate"):
        return _pil(image, name, c)
    rng = np.random.default_rng(rng_seed)
    out = CORRUPT_FLOAT[name](image / 255.0, c, rng) * 255
    return out.astype(np.uint8)  # truncation, as the published script's np.uint8
