"""CIFAR-10-C corruptions against independent computations of the published definitions
(Hendrycks & Dietterich's make_cifar_c.py, CIFAR parameter tables)."""
import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, signal

from lava_vision.data.corruptions import CORRUPTIONS, PARAMS, corrupt, disk

GREY = np.full((192, 192, 3), 128, np.uint8)  # mid-grey: noise of these sizes is never clipped


def _photo(seed=0, size=32):
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.uniform(0, 255, (size, size, 3)), (2, 2, 0))
    return np.clip((smooth - smooth.mean()) * 4 + 128, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("severity,sigma", [(1, 0.04), (3, 0.08), (5, 0.10)])
def test_gaussian_noise_has_the_tables_sigma(severity, sigma):
    diff = corrupt(GREY, "gaussian_noise", severity, seed=0, index=7).astype(np.float64) - 128
    # x + N(0, sigma^2) on [0, 1], truncated to uint8: std sigma * 255, mean -0.5 (truncation)
    assert abs(diff.std() / 255 - sigma) < 0.02 * sigma
    assert abs(diff.mean() + 0.5) < 0.15


def test_shot_noise_is_poisson_with_the_tables_rate():
    c = PARAMS["shot_noise"][4]  # 50 photons at full scale
    out = corrupt(GREY, "shot_noise", 5, seed=1, index=0).astype(np.float64) / 255
    lam = 128 / 255 * c  # Poisson(x * c) / c: mean x, variance x / c
    assert abs(out.var() - lam / c ** 2) < 0.03 * lam / c ** 2
    counts = np.round(out * c * 255 / 255)  # the Poisson counts (truncation loses < 1/255)
    assert np.allclose(out * c, counts, atol=c / 255)


def test_contrast_by_hand():
    image = _photo(1)
    x = image / 255.0
    for severity, c in zip(range(1, 6), (0.75, 0.5, 0.4, 0.3, 0.15)):
        m = x.reshape(-1, 3).mean(0)
        expected = (np.clip((x - m) * c + m, 0, 1) * 255).astype(np.uint8)
        assert np.array_equal(corrupt(image, "contrast", severity), expected)


def _gauss3(sigma):
    g = np.exp(-np.arange(-1, 2) ** 2 / (2 * sigma ** 2))
    return np.outer(g, g) / np.outer(g, g).sum()


@pytest.mark.parametrize("severity", [1, 4, 5])
def test_defocus_blur_is_a_smoothed_normalised_disk(severity):
    radius, alias = PARAMS["defocus_blur"][severity - 1]
    yy, xx = np.mgrid[-8:9, -8:9]
    mask = (xx ** 2 + yy ** 2 <= radius ** 2).astype(np.float64)
    kernel = signal.convolve2d(mask / mask.sum(), _gauss3(alias), mode="same")
    assert np.allclose(disk(radius, alias), kernel, atol=1e-6)
    image = _photo(2)
    # cv2.filter2D borders reflect without repeating the edge: scipy's "mirror"
    blurred = np.stack([ndimage.correlate(image[..., d] / 255.0, kernel, mode="mirror") for d in range(3)], -1)
    expected = (np.clip(blurred, 0, 1) * 255).astype(np.uint8)
    got = corrupt(image, "defocus_blur", severity)
    assert np.abs(got.astype(int) - expected).max() <= 1  # float32 vs float64 at truncation edges
    assert (got != expected).mean() < 0.05


def test_jpeg_is_pils_codec_at_the_tables_quality():
    image = _photo(3)
    for severity, quality in zip(range(1, 6), (80, 65, 58, 50, 40)):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=quality)
        assert np.array_equal(corrupt(image, "jpeg_compression", severity), np.asarray(Image.open(buf)))


def test_deterministic_per_photo_and_validated():
    image = _photo(4)
    for name in CORRUPTIONS:
        out = corrupt(image, name, 3, seed=5, index=11)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.array_equal(out, corrupt(image, name, 3, seed=5, index=11))
    assert not np.array_equal(corrupt(image, "gaussian_noise", 3, 5, 11), corrupt(image, "gaussian_noise", 3, 5, 12))
    assert not np.array_equal(corrupt(image, "gaussian_noise", 3, 5, 11), corrupt(image, "gaussian_noise", 3, 6, 11))
    with pytest.raises(ValueError, match="corruption 'fog'"):
        corrupt(image, "fog", 3)
    with pytest.raises(ValueError, match="severity 6"):
        corrupt(image, "contrast", 6)


def test_joined_corruptions_apply_in_turn():
    # contrast then gaussian noise, by hand: contrast as the published formula, then x + N(0, c^2)
    # drawn from default_rng([seed, index, 1]) (the second corruption's stream), each truncated to uint8
    image = _photo(5)
    x = image / 255.0
    m = x.reshape(-1, 3).mean(0)
    step1 = (np.clip((x - m) * 0.15 + m, 0, 1) * 255).astype(np.uint8)
    noise = np.random.default_rng([3, 9, 1]).normal(size=image.shape, scale=0.10)
    expected = (np.clip(step1 / 255.0 + noise, 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(corrupt(image, "contrast+gaussian_noise", 5, seed=3, index=9), expected)
    with pytest.raises(ValueError, match="joined with"):
        corrupt(image, "contrast+contrast", 5)
    with pytest.raises(ValueError, match="'contrast\\+fog'"):
        corrupt(image, "contrast+fog", 5)
