"""Procedurally drawn shape images: a 10-class classification distribution made by our own code,
deterministic from a seed, with named rendering domains that differ only in style.

It exists so that a real fine-tuning run needs no download: the quickstart base network is
pretrained on the ``source`` domain (bright shapes on dark, clean backgrounds) and adapted to the
``target`` domain (dark, blurred shapes on bright, textured, colour-graded backgrounds), a domain
shift under which the frozen base degrades. The class of an image is its shape; position, size,
rotation and colours are random in every domain.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

SHAPE_CLASSES = ("disk", "square", "triangle", "plus", "ring", "stripes", "checker", "star",
                 "frame", "dots")
SPLITS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class DomainStyle:
    """How a domain paints a shape mask. Channel values are 0..255.

    bg / fg: per-channel ranges the background and shape colours are drawn from.
    texture: amplitude of a random sinusoidal grating added to the background.
    gradient: amplitude of a random linear colour ramp across the background.
    blur: Gaussian blur sigma in pixels (0 = sharp). noise: pixel noise sigma.
    """

    bg: tuple[float, float]
    fg: tuple[float, float]
    texture: float
    gradient: float
    blur: float
    noise: float


DOMAINS: dict[str, DomainStyle] = {
    "source": DomainStyle(bg=(0, 60), fg=(150, 255), texture=0.0, gradient=0.0, blur=0.0, noise=6.0),
    "target": DomainStyle(bg=(150, 230), fg=(0, 110), texture=35.0, gradient=40.0, blur=0.8, noise=10.0),
}


def _shape_mask(label: int, u: np.ndarray, v: np.ndarray, r: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean H x W mask of shape ``label`` in rotated, centred coordinates (u, v) of radius r."""
    rho = np.hypot(u, v)
    name = SHAPE_CLASSES[label]
    if name == "disk":
        return rho < r
    if name == "square":
        return np.maximum(abs(u), abs(v)) < 0.8 * r
    if name == "triangle":  # three half-planes with normals 120 degrees apart
        angles = np.deg2rad([90.0, 210.0, 330.0])
        return np.all([u * np.cos(a) + v * np.sin(a) < 0.5 * r for a in angles], axis=0)
    if name == "plus":
        return ((abs(u) < 0.3 * r) & (abs(v) < r)) | ((abs(v) < 0.3 * r) & (abs(u) < r))
    if name == "ring":
        return (rho < r) & (rho > 0.55 * r)
    if name == "stripes":
        period = rng.uniform(3.5, 5.0)
        return (rho < r) & (np.sin(2 * np.pi * u / period) > 0)
    if name == "checker":
        cell = rng.uniform(2.5, 3.5)
        inside = np.maximum(abs(u), abs(v)) < 0.85 * r
        return inside & ((np.floor(u / cell) + np.floor(v / cell)) % 2 == 0)
    if name == "star":
        phi = np.arctan2(v, u)
        return rho < r * (0.35 + 0.65 * ((np.cos(5 * phi) + 1) / 2) ** 2)
    if name == "frame":
        box = np.maximum(abs(u), abs(v))
        return (box < 0.85 * r) & (box > 0.5 * r)
    if name == "dots":
        mask = np.zeros(u.shape, dtype=bool)
        for k in range(3):
            a = 2 * np.pi * k / 3 + rng.uniform(-0.3, 0.3)
            du, dv = u - 0.6 * r * np.cos(a), v - 0.6 * r * np.sin(a)
            mask |= np.hypot(du, dv) < 0.3 * r
        return mask
    raise ValueError(f"unknown shape label {label}")


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2  # opencv is a dependency of the data pipeline already (albumentations)

    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def render_one(label: int, style: DomainStyle, size: int, rng: np.random.Generator) -> np.ndarray:
    """One H x W x 3 uint8 image of shape ``label`` painted in ``style``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    r = rng.uniform(0.22, 0.36) * size
    cx, cy = rng.uniform(r * 0.9, size - r * 0.9, size=2)
    theta = rng.uniform(0, 2 * np.pi)
    u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
    v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
    mask = _shape_mask(label, u, v, r, rng).astype(np.float64)[..., None]

    bg = np.broadcast_to(rng.uniform(*style.bg, size=3), (size, size, 3)).copy()
    if style.gradient > 0:
        a = rng.uniform(0, 2 * np.pi)
        ramp = ((xx * np.cos(a) + yy * np.sin(a)) / size - 0.5)[..., None]
        bg += style.gradient * ramp * rng.uniform(-1, 1, size=3)
    if style.texture > 0:
        a, period, phase = rng.uniform(0, np.pi), rng.uniform(4, 9), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period + phase)[..., None]
        bg += style.texture * wave * rng.uniform(0.3, 1.0, size=3)
    fg = rng.uniform(*style.fg, size=3)
    img = bg * (1 - mask) + fg * mask
    if style.blur > 0:
        img = _gaussian_blur(img, style.blur)
    img = img + rng.normal(0, style.noise, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def render_shapes(num: int, domain: str, split: str = "train", seed: int = 0,
                  size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``num`` images with balanced labels: (N x size x size x 3 uint8, N int64 labels).

    The same (num, domain, split, seed, size) always gives the same arrays; splits and domains
    draw from independent random streams.
    """
    if domain not in DOMAINS:
        raise ValueError(f"data.domain={domain!r}: unknown; known domains: {sorted(DOMAINS)}")
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: expected one of {sorted(SPLITS)}")
    if num <= 0 or size < 8:
        raise ValueError(f"render_shapes: need num > 0 and size >= 8, got num={num}, size={size}")
    domain_code = zlib.crc32(domain.encode())  # stable across adding domains
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], domain_code]))
    labels = rng.permutation(np.arange(num) % len(SHAPE_CLASSES)).astype(np.int64)
    images = np.stack([render_one(int(c), DOMAINS[domain], size, rng) for c in labels])
    return images, labels
