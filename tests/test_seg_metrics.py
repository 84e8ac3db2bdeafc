"""Segmentation metrics against float64 numpy references written from the papers' formulas
(slices and loops, matrix forms, scipy), and against values worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_vision.metrics.segmentation import (
    BalancedErrorRate,
    EMeasure,
    IoUDice,
    SMeasure,
    SODMeanAbsoluteError,
    WeightedFMeasure,
    segmentation_metrics,
)
from lava_vision.metrics.sod import e_measure_adaptive, e_measure_curve, s_measure, weighted_f_measure
from sod_reference import ref_e_curve, ref_e_measure, ref_prepare, ref_s_measure, ref_weighted_f


def _cases(seed=0, n=6, size=8):
    rng = np.random.default_rng(seed)
    preds, gts = [], []
    for _ in range(n):
        g = np.zeros((size, size))
        r0, c0 = rng.integers(0, size - 3, 2)
        g[r0:r0 + rng.integers(2, 4), c0:c0 + rng.integers(2, 5)] = 1
        p = np.clip(0.7 * g + 0.5 * rng.random((size, size)), 0, 1)
        preds.append(p)
        gts.append(g)
    return preds, gts


def _t(x):
    return torch.as_tensor(np.stack(x))[:, None].float()


# ------------------------------------------------------------------------------------ S-measure
def test_s_measure_matches_reference_and_edge_cases():
    preds, gts = _cases()
    got = s_measure(_t(preds), _t(gts)).double().numpy()
    want = np.array([ref_s_measure(p, g) for p, g in zip(preds, gts)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    # hand values: all-background gt -> 1 - mean(pred); all-foreground -> mean(pred);
    # a constant prediction is not normalised; a perfect binary prediction scores 1
    const = np.full((4, 4), 0.25)
    got = s_measure(_t([const, const]), _t([np.zeros((4, 4)), np.ones((4, 4))]))
    np.testing.assert_allclose(got.numpy(), [0.75, 0.25], atol=1e-6)
    g = np.zeros((4, 4))
    g[:2, :2] = 1
    assert s_measure(_t([g]), _t([g])).item() == pytest.approx(1.0, abs=1e-6)


def test_s_measure_worked_by_hand():
    # gt: left column of a 2x2 image is foreground; pred (already in [0, 1], min 0 max 1) = [[1, 0], [0.5, 0]]
    gt = np.array([[1.0, 0.0], [1.0, 0.0]])
    pred = np.array([[1.0, 0.0], [0.5, 0.0]])
    # object: fg pixels {1, .5}: mu=.75, sd=sqrt(.125); bg (1-pred) {1, 1}: mu=1, sd=0; u=.5
    fg = 2 * .75 / (.75 ** 2 + 1 + np.sqrt(.125))
    obj = .5 * fg + .5 * (2 / 2)
    # centroid: rows mean .5 -> round(.5)=0 (half to even) -> Y=1; cols mean 0 -> X=1
    # quadrants: LT = pred[0,0]=1 vs 1 (1 pixel: alpha=beta=0 -> 1); RT = 0 vs 0 -> 1;
    # LB = .5 vs 1 (single pixel -> 1); RB = 0 vs 0 -> 1; weights sum to 1 -> region = 1
    want = .5 * obj + .5 * 1.0
    assert s_measure(_t([pred]), _t([gt])).item() == pytest.approx(want, abs=1e-6)


# ------------------------------------------------------------------------------------ E-measure
def test_e_measure_curve_and_adaptive_match_matrix_form():
    preds, gts = _cases(seed=1)
    preds.append(np.full((8, 8), 0.3))  # constant prediction, not normalised
    gts.append(np.zeros((8, 8)))        # all-background gt
    preds.append(np.linspace(0, 1, 64).reshape(8, 8))
    gts.append(np.ones((8, 8)))          # all-foreground gt
    got = e_measure_curve(_t(preds), _t(gts)).double().numpy()
    want = np.stack([ref_e_curve(p, g) for p, g in zip(preds, gts)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    adp = []
    for p, g in zip(preds, gts):
        pp, gg = ref_prepare(p, g)
        adp.append(ref_e_measure(pp >= min(2 * pp.mean(), 1), gg))
    np.testing.assert_allclose(e_measure_adaptive(_t(preds), _t(gts)).double().numpy(), adp, atol=1e-5)


def test_e_measure_by_hand():
    # 2x2, gt = [1, 0; 0, 0], pred binary = gt: mean fm = mean gt = 1/4; aligned everywhere:
    # each pixel's xi = 1 -> enhanced 1; sum = 4, / (N - 1) = 4 / 3
    gt = np.array([[1.0, 0.0], [0.0, 0.0]])
    curve = e_measure_curve(_t([gt]), _t([gt]))[0]
    assert curve[255].item() == pytest.approx(4 / 3, rel=1e-6)   # t = 255: pred 1 >= 1
    # t = 0: everything predicted fg: fm - mean = 0 everywhere -> xi = 0 -> enhanced 1/4 each -> 1/3
    assert curve[0].item() == pytest.approx(1 / 3, rel=1e-6)


# ----------------------------------------------------------------------------- weighted F, MAE
def test_weighted_f_matches_reference_and_edge_cases():
    preds, gts = _cases(seed=2)
    for beta2 in (1.0, 0.3):
        got = weighted_f_measure(_t(preds), _t(gts), beta2).double().numpy()
        want = [ref_weighted_f(p, g, beta2) for p, g in zip(preds, gts)]
        np.testing.assert_allclose(got, want, atol=1e-5)
    g = np.zeros((8, 8))
    g[2:5, 3:6] = 1
    got = weighted_f_measure(_t([g, np.zeros((8, 8)) + .4, np.ones((8, 8))]),
                             _t([g, np.zeros((8, 8)), np.ones((8, 8))]))
    # perfect -> 1; all-background gt -> 0 by convention; all-fg gt with constant-1 pred -> 1
    np.testing.assert_allclose(got.numpy(), [1.0, 0.0, 1.0], atol=1e-6)


def test_mae_uses_normalised_prediction():
    pred = np.array([[0.2, 0.6], [0.4, 0.2]])  # normalised: [[0, 1], [.5, 0]]
    gt = np.array([[0.0, 1.0], [1.0, 0.0]])
    m = SODMeanAbsoluteError()
    m.update(_t([pred]), _t([gt]))
    assert m.compute().item() == pytest.approx(0.5 / 4)


# ------------------------------------------------------------------------- IoU / Dice / BER
def test_iou_dice_ber_by_hand():
    # image 1: pred fg at 3 px, gt fg at 4 px, overlap 2 (16 px)
    p1, g1 = np.zeros((4, 4)), np.zeros((4, 4))
    p1[0, :3] = 0.9
    g1[0, 1:] = 1
    g1[1, 3] = 1
    # image 2: empty pred and empty gt -> IoU = Dice = 1; BER: only negatives, all right -> 0
    p2, g2 = np.full((4, 4), 0.2), np.zeros((4, 4))
    m = IoUDice()
    m.update(_t([p1, p2]), _t([g1, g2]))
    out = m.compute()
    # iou1 = 2 / 5, dice1 = 4 / 7
    assert out["iou"].item() == pytest.approx((2 / 5 + 1) / 2)
    assert out["dice"].item() == pytest.approx((4 / 7 + 1) / 2)
    b = BalancedErrorRate()
    b.update(_t([p1, p2]), _t([g1, g2]))
    out = b.compute()
    # image 1: TP 2 / 4, TN 11 / 12 -> 100 (1 - (.5 + 11/12) / 2); image 2: 0
    ber1 = 100 * (1 - (0.5 + 11 / 12) / 2)
    assert out["ber_per_image"].item() == pytest.approx(ber1 / 2)
    # dataset: TP 2 / 4, TN (11 + 16) / 28
    assert out["ber"].item() == pytest.approx(100 * (1 - (2 / 4 + 27 / 28) / 2))


def test_metric_states_accumulate_over_batches():
    preds, gts = _cases(seed=3)
    whole, split = SMeasure(), SMeasure()
    whole.update(_t(preds), _t(gts))
    split.update(_t(preds[:2]), _t(gts[:2]))
    split.update(_t(preds[2:]), _t(gts[2:]))
    want = np.mean([ref_s_measure(p, g) for p, g in zip(preds, gts)])
    assert whole.compute().item() == pytest.approx(want, abs=1e-6)
    assert split.compute().item() == pytest.approx(want, abs=1e-6)
    em = EMeasure()
    em.update(_t(preds[:3]), _t(gts[:3]))
    em.update(_t(preds[3:]), _t(gts[3:]))
    curve = np.mean([ref_e_curve(p, g) for p, g in zip(preds, gts)], axis=0)
    out = em.compute()
    assert out["em_mean"].item() == pytest.approx(curve.mean(), abs=1e-6)
    assert out["em_max"].item() == pytest.approx(curve.max(), abs=1e-6)
    wf = WeightedFMeasure()
    wf.update(_t(preds), _t(gts))
    assert wf.compute().item() == pytest.approx(np.mean([ref_weighted_f(p, g) for p, g in zip(preds, gts)]), abs=1e-6)
    coll = segmentation_metrics()
    coll.update(_t(preds), _t(gts))
    assert set(coll.compute()) == {"sm", "em_mean", "em_max", "em_adp", "wfm", "mae", "iou", "dice", "ber",
                                   "ber_per_image"}


def test_s_measure_weights_object_and_region_by_alpha():
    preds, gts = _cases(seed=5)
    for alpha in (0.3, 0.8):  # alpha != 0.5 tells S_object's weight from S_region's
        want = np.array([ref_s_measure(p, g, alpha) for p, g in zip(preds, gts)])
        np.testing.assert_allclose(s_measure(_t(preds), _t(gts), alpha).double().numpy(), want, atol=1e-5, rtol=0)
        m = SMeasure(alpha=alpha)
        m.update(_t(preds), _t(gts))
        assert m.compute().item() == pytest.approx(want.mean(), abs=1e-5)
    # and the two choices really differ on these images
    assert abs(ref_s_measure(preds[0], gts[0], 0.3) - ref_s_measure(preds[0], gts[0], 0.8)) > 1e-3


def test_threshold_metrics_count_exactly_one_half_as_background():
    # SAM's mask threshold is logit > 0, i.e. probability > 0.5: a pixel at exactly 0.5 is background
    pred = np.array([[0.5, 0.9], [0.1, 0.5]])
    gt = np.array([[1.0, 1.0], [0.0, 0.0]])
    m = IoUDice()
    m.update(_t([pred]), _t([gt]))
    out = m.compute()
    assert out["iou"].item() == pytest.approx(1 / 2, abs=1e-12)  # fg = {0.9}: inter 1, union 2
    assert out["dice"].item() == pytest.approx(2 / 3, abs=1e-12)
    b = BalancedErrorRate()
    b.update(_t([pred]), _t([gt]))
    assert b.compute()["ber"].item() == pytest.approx(100 * (1 - (1 / 2 + 2 / 2) / 2), abs=1e-9)
