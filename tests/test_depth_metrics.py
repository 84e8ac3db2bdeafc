"""Depth metrics and losses against values computed by hand in numpy float64."""
import math

import cv2
import numpy as np
import pytest
import torch

from lava_vision.metrics.depth import DepthMetrics, eval_mask
from lava_vision.tasks.depth.loss import silog_loss

PRED = np.array([[1.0, 2.0], [3.0, 5.0]])
GT = np.array([[1.1, 1.5], [3.0, 0.0]])  # last pixel invalid


def hand_metrics(p: np.ndarray, g: np.ndarray) -> dict:
    """Written from the published definitions (ZoeDepth compute_errors / DA-V2 eval_depth)."""
    thresh = np.maximum(g / p, p / g)
    e = np.log(p) - np.log(g)
    return {
        "d1": np.mean(thresh < 1.25), "d2": np.mean(thresh < 1.25 ** 2), "d3": np.mean(thresh < 1.25 ** 3),
        "abs_rel": np.mean(np.abs(p - g) / g), "sq_rel": np.mean((p - g) ** 2 / g),
        "rmse": np.sqrt(np.mean((p - g) ** 2)), "rmse_log": np.sqrt(np.mean(e ** 2)),
        "log10": np.mean(np.abs(np.log10(p) - np.log10(g))),
        "silog": np.sqrt(np.mean(e ** 2) - 0.5 * np.mean(e) ** 2),
    }


def test_metrics_match_hand_computed_values_on_a_2x2_image():
    m = DepthMetrics(eigen_crop=False)
    m.update(torch.tensor(PRED, dtype=torch.float32)[None], torch.tensor(GT, dtype=torch.float32)[None])
    got = m.compute()
    # the three valid pixels: pred (1, 2, 3) vs gt (1.1, 1.5, 3.0)
    want = hand_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.1, 1.5, 3.0]))
    # delta1 by hand: ratios 1.1, 1.333, 1.0 -> 2 of 3 below 1.25
    assert want["d1"] == pytest.approx(2 / 3)
    for k, v in want.items():
        assert float(got[k]) == pytest.approx(v, rel=1e-5), k
    assert int(got["n_images"]) == 1 and int(got["n_skipped"]) == 0


def test_metrics_are_averaged_per_image_and_empty_images_are_skipped():
    rng = np.random.default_rng(0)
    g1, g2 = rng.uniform(0.5, 6, (4, 6)), rng.uniform(0.5, 6, (4, 6))  # preds stay below the 10 m clamp
    p1, p2 = g1 * rng.uniform(0.7, 1.3, (4, 6)), g2 * 1.5
    empty = np.zeros((4, 6))
    m = DepthMetrics(eigen_crop=False)
    def t(a):
        return torch.tensor(np.stack(a), dtype=torch.float32)

    m.update(t([p1, p2, p1]), t([g1, g2, empty]))
    got = m.compute()
    h1, h2 = hand_metrics(p1, g1), hand_metrics(p2, g2)
    for k in h1:
        assert float(got[k]) == pytest.approx((h1[k] + h2[k]) / 2, rel=1e-5), k
        assert math.isfinite(float(got[k]))
    assert int(got["n_images"]) == 2 and int(got["n_skipped"]) == 1


def test_prediction_is_clamped_and_upsampled_bilinearly_to_gt_size():
    m = DepthMetrics(min_depth=1e-3, max_depth=10.0, eigen_crop=False)
    pred = torch.full((1, 2, 2), 20.0)  # clamped to 10
    gt = torch.full((1, 4, 4), 8.0)
    m.update(pred, gt)
    assert float(m.compute()["abs_rel"]) == pytest.approx(2.0 / 8.0, rel=1e-6)


def test_eigen_crop_applies_only_to_480x640_ground_truth():
    gt = torch.full((1, 480, 640), 5.0)
    mask = eval_mask(gt, eigen_crop=True)
    assert int(mask.sum()) == (471 - 45) * (601 - 41)
    assert bool(mask[0, 45, 41]) and not bool(mask[0, 44, 41]) and not bool(mask[0, 45, 601])
    assert int(eval_mask(torch.full((1, 10, 12), 5.0), eigen_crop=True).sum()) == 120
    assert int(eval_mask(torch.tensor([[[0.0, 10.0, 9.99, 1e-3]]])).sum()) == 1  # strict bounds


def test_silog_losses_match_hand_computed_values():
    p, g = np.array([1.0, 2.0, 4.0, 7.0]), np.array([1.2, 1.8, 5.0, 0.0])
    valid = g > 0
    d = np.log(g[valid]) - np.log(p[valid])
    want_da = np.sqrt(np.mean(d ** 2) - 0.5 * np.mean(d) ** 2)
    want_zoe = 10 * np.sqrt(np.var(d, ddof=1) + 0.15 * np.mean(d) ** 2)
    tp, tg = torch.tensor(p).view(1, 2, 2), torch.tensor(g).view(1, 2, 2)
    tv = tg > 0
    assert float(silog_loss(tp, tg, tv, "silog", 0.5)) == pytest.approx(want_da, rel=1e-6)
    assert float(silog_loss(tp, tg, tv, "zoe")) == pytest.approx(want_zoe, rel=1e-6)
    # scale invariance of the lam = 1 form: a global factor on pred changes nothing
    unscaled = float(silog_loss(tp, tg, tv, "silog", 1.0))
    assert float(silog_loss(tp * 3, tg, tv, "silog", 1.0)) == pytest.approx(unscaled, abs=1e-5)
    with pytest.raises(ValueError, match="kind"):
        silog_loss(tp, tg, tv, "l1")


def test_silog_without_valid_pixels_is_zero_and_keeps_the_graph():
    pred = torch.ones(1, 2, 2, requires_grad=True)
    loss = silog_loss(pred, torch.zeros(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.bool))
    loss.backward()
    assert float(loss) == 0.0 and pred.grad is not None


def test_delta_thresholds_on_ratios_either_side_of_each_power_of_1_25():
    # ratios max(p/g, g/p) just below and above 1.25, 1.25^2 = 1.5625 and 1.25^3 = 1.953125
    ratios = np.array([1.24, 1.26, 1.55, 1.57, 1.94, 1.96, 1 / 1.94, 1 / 1.96])
    gt = np.full(8, 2.0)
    pred = gt * ratios
    m = DepthMetrics(eigen_crop=False)
    m.update(torch.tensor(pred, dtype=torch.float32).view(1, 2, 4), torch.tensor(gt, dtype=torch.float32).view(1, 2, 4))
    got = m.compute()
    want = hand_metrics(pred, gt)
    # by hand: below 1.25: 1 of 8; below 1.5625: 3 of 8; below 1.953125: 6 of 8 (1.94 and 1/1.94 in)
    assert (want["d1"], want["d2"], want["d3"]) == (1 / 8, 3 / 8, 6 / 8)
    for k in ("d1", "d2", "d3"):
        assert float(got[k]) == pytest.approx(want[k], abs=1e-12), k


def test_upsampling_is_bilinear_on_a_non_constant_prediction():
    rng = np.random.default_rng(4)
    low = rng.uniform(1.0, 4.0, (3, 4))
    gt = rng.uniform(1.0, 4.0, (12, 16))
    up = cv2.resize(low, (16, 12), interpolation=cv2.INTER_LINEAR)  # half-pixel bilinear, float64
    m = DepthMetrics(eigen_crop=False)
    m.update(torch.tensor(low, dtype=torch.float32)[None], torch.tensor(gt, dtype=torch.float32)[None])
    got = m.compute()
    for k, v in hand_metrics(up, gt).items():
        assert float(got[k]) == pytest.approx(v, rel=1e-5, abs=1e-6), k


def test_non_finite_predictions_follow_zoedepth_and_are_counted():
    gt = np.array([[2.0, 3.0, 4.0], [5.0, 6.0, 7.0]])
    pred = np.array([[2.2, np.nan, 4.1], [np.inf, 5.5, -np.inf]])
    m = DepthMetrics(min_depth=1e-3, max_depth=10.0, eigen_crop=False)
    m.update(torch.tensor(pred, dtype=torch.float32)[None], torch.tensor(gt, dtype=torch.float32)[None])
    got = m.compute()
    fixed = np.array([[2.2, 1e-3, 4.1], [10.0, 5.5, 1e-3]])  # NaN -> min_depth, inf -> max_depth, -inf -> min
    for k, v in hand_metrics(fixed, gt).items():
        assert math.isfinite(float(got[k])) and float(got[k]) == pytest.approx(v, rel=1e-5, abs=1e-6), k
    assert int(got["n_nonfinite"]) == 3 and int(got["n_images"]) == 1


def test_mismatched_predictions_are_refused():
    m = DepthMetrics(eigen_crop=False)
    with pytest.raises(ValueError, match="aspect"):  # transposed: never silently stretched
        m.update(torch.ones(1, 8, 6), torch.ones(1, 6, 8))
    with pytest.raises(ValueError, match="torch.int64"):
        m.update(torch.ones(1, 6, 8, dtype=torch.long), torch.ones(1, 6, 8))
    m.update(torch.ones(1, 3, 4), torch.ones(1, 6, 8))  # the same aspect at another size is fine
