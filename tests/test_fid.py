"""FID: torchmetrics' Fréchet distance against a float64 scipy computation, and the key naming."""
import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from lava_vision.metrics.fid import build_fid
from lava_vision.tasks.text2image.tiny import tiny_clip


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)), float64, unbiased covariances."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


class Flatten12(nn.Module):
    """Feature network: the 12 pixel values of a 3 x 2 x 2 image."""
    num_features = 12

    def forward(self, x):
        return x.flatten(1)


def test_frechet_distance_matches_scipy_float64():
    from torchmetrics.image.fid import FrechetInceptionDistance

    g = torch.Generator().manual_seed(0)
    real = torch.rand(40, 3, 2, 2, generator=g, dtype=torch.float64)
    fake = (torch.rand(30, 3, 2, 2, generator=g, dtype=torch.float64) * 0.7 + 0.2) ** 2
    metric = FrechetInceptionDistance(feature=Flatten12(), normalize=True)
    metric.update(real[:25], real=True)  # two updates: the summed state must equal one pass
    metric.update(real[25:], real=True)
    metric.update(fake, real=False)
    ref = scipy_fid(real.flatten(1).numpy(), fake.flatten(1).numpy())
    assert ref > 0.1
    assert metric.compute().item() == pytest.approx(ref, rel=1e-5)


def test_identical_sets_give_zero():
    from torchmetrics.image.fid import FrechetInceptionDistance

    x = torch.rand(20, 3, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    metric = FrechetInceptionDistance(feature=Flatten12(), normalize=True)
    metric.update(x, real=True)
    metric.update(x, real=False)
    assert abs(metric.compute().item()) < 1e-5


def test_clip_features_key_and_value(tmp_path):
    path = tiny_clip(tmp_path / "clip")
    key, metric = build_fid("clip", clip_model=str(path))
    assert key == "fid_clip_clip"
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(6, 3, 32, 32, generator=g), torch.rand(6, 3, 32, 32, generator=g) * 0.5
    metric.update(real, real=True)
    metric.update(fake, real=False)
    feats = metric.inception  # the CLIP feature network, applied independently here
    ref = scipy_fid(feats(real).double().numpy(), feats(fake).double().numpy())
    assert metric.compute().item() == pytest.approx(ref, rel=1e-3, abs=1e-4)


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="inception_weights"):
        build_fid("inception", inception_weights=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="clip_model"):
        build_fid("clip")
    with pytest.raises(ValueError, match="fid_features='swav'"):
        build_fid("swav")
