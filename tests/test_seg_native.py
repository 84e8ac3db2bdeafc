"""Segmentation is scored at each ground truth's native size (the SOD / COD / polyp protocol):
the task's metrics, per-image rows and pictures on real-size masks of two aspect ratios against
float64 numpy references of the PySODMetrics formulas at native size; input rules of the metrics
(non-finite, integer dtypes, the ground-truth threshold, {0, 1} mask files, aspect ratios)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from lava_vision.data.segmentation import read_pair
from lava_vision.metrics.segmentation import resize_probabilities, segmentation_metrics
from lava_vision.metrics.sod import mae, s_measure
from lava_vision.tasks.panels import LINE_H
from lava_vision.tasks.segmentation.config import SamModelConfig, SegDataConfig
from lava_vision.tasks.segmentation.task import SegmentationTask
from lava_vision.train.config import RunConfig
from sod_reference import (
    ref_e_curve,
    ref_e_curve_by_cells,
    ref_e_measure,
    ref_iou_dice_ber,
    ref_mae,
    ref_prepare,
    ref_s_measure,
    ref_upsample,
    ref_weighted_f,
)

SIZES = [(300, 517), (1070, 1348)]  # H x W, two aspect ratios, neither square
MODEL = 64  # the model's square input size in these tests


def _dataset(root, sizes=SIZES, seed=0):
    """Images and masks of the given native sizes, listed in test.csv (and a train list)."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True)
    (root / "gt").mkdir()
    lines = ["image,label"]
    masks = []
    for i, (h, w) in enumerate(sizes):
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (int(w * 0.45), int(h * 0.55)), (int(w * 0.25), int(h * 0.2)), 20, 0, 360, 255, -1)
        cv2.rectangle(mask, (int(w * 0.7), int(h * 0.1)), (int(w * 0.9), int(h * 0.3)), 255, -1)
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "img" / f"s{i}.png"), image)
        cv2.imwrite(str(root / "gt" / f"s{i}.png"), mask)
        lines.append(f"img/s{i}.png,gt/s{i}.png")
        masks.append(mask > 128)
    (root / "test.csv").write_text("\n".join(lines) + "\n")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return masks


def _task(root, **data) -> SegmentationTask:
    cfg = RunConfig(task="segmentation", model=SamModelConfig(arch="custom"),
                    data=SegDataConfig(root=str(root), splits={"train": "train.csv", "test": "test.csv"},
                                       image_size=MODEL, **data))
    return SegmentationTask(cfg)


def _predictions(masks, seed=1) -> torch.Tensor:
    """Model-size probabilities that follow the masks, with noise: non-constant, not binary."""
    rng = np.random.default_rng(seed)
    out = []
    for m in masks:
        small = cv2.resize(m.astype(np.float32), (MODEL, MODEL), interpolation=cv2.INTER_AREA)
        out.append(np.clip(0.75 * small + 0.3 * rng.random((MODEL, MODEL)), 0, 1).astype(np.float32))
    return torch.from_numpy(np.stack(out))[:, None]


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    """The task, a batch of the two real-size masks, model-size predictions, and the float64
    references at native size: per image and for the dataset (computed once: large images)."""
    root = tmp_path_factory.mktemp("native")
    masks = _dataset(root)
    task = _task(root)
    ds = task.build_dataset("test")
    batch = task.collate([ds[0], ds[1]])
    preds = _predictions(masks)
    ups = [ref_upsample(p[0].numpy(), m.shape) for p, m in zip(preds, masks)]  # float64 bilinear
    gts = [m.astype(np.float64) for m in masks]
    per_image = []
    for u, g in zip(ups, gts):
        pp, gg = ref_prepare(u, g)
        iou, dice, ber, counts = ref_iou_dice_ber(u, g)
        per_image.append({"sm": ref_s_measure(u, g), "curve": ref_e_curve_by_cells(u, g),
                          "em_adp": ref_e_measure(pp >= min(2 * pp.mean(), 1), gg), "wfm": ref_weighted_f(u, g),
                          "mae": ref_mae(u, g), "iou": iou, "dice": dice, "ber": ber, "counts": counts})
    curve = np.mean([r["curve"] for r in per_image], axis=0)
    tp, tn, npos, nneg = sum(r["counts"] for r in per_image)
    dataset = {k: np.mean([r[k] for r in per_image]) for k in ("sm", "em_adp", "wfm", "mae", "iou", "dice")}
    dataset.update(em_mean=curve.mean(), em_max=curve.max(), ber=100 * (1 - (tp / npos + tn / nneg) / 2),
                   ber_per_image=np.mean([r["ber"] for r in per_image]))
    return {"root": root, "task": task, "batch": batch, "preds": preds, "per_image": per_image, "dataset": dataset}


# continuous metrics agree to float32 rounding; thresholded ones (IoU, Dice, BER, E over 256
# thresholds) may flip a pixel sitting on a threshold between float32 and float64: 1e-4 is far
# below what scoring at the model's 64 x 64 changes (checked below)
ATOL = {"sm": 1e-5, "wfm": 1e-5, "mae": 1e-5, "em_mean": 1e-4, "em_max": 1e-4, "em_adp": 1e-4,
        "iou": 1e-4, "dice": 1e-4, "ber": 1e-2, "ber_per_image": 1e-2}


def test_cell_sum_e_curve_equals_the_matrix_form():
    rng = np.random.default_rng(3)
    for gt in (rng.random((9, 13)) > 0.6, np.zeros((9, 13)), np.ones((9, 13))):
        pred = rng.random((9, 13))
        np.testing.assert_allclose(ref_e_curve_by_cells(pred, gt), ref_e_curve(pred, gt), atol=1e-12, rtol=0)


def test_native_size_scoring_matches_the_formulas_at_the_ground_truths_size(native):
    task, batch, preds = native["task"], native["batch"], native["preds"]
    assert batch["mask"].shape == (2, 1, MODEL, MODEL)
    assert [tuple(m.shape) for m in batch["mask_native"]] == SIZES
    metrics = task.build_metrics()
    task.update_metrics(metrics, preds, batch)
    got = {k: float(v) for k, v in metrics.compute().items()}
    for k, tol in ATOL.items():
        assert got[k] == pytest.approx(native["dataset"][k], abs=tol), k
    assert "native size" in task.scoring()

    # the option: scoring at the model's size is available, named, and gives other numbers
    model_task = _task(native["root"], eval_resolution="model")
    assert "64x64" in model_task.scoring() and "NOT at native size" in model_task.scoring()
    model_batch = model_task.collate([model_task.build_dataset("test")[i] for i in range(2)])
    assert "mask_native" not in model_batch
    at_model = model_task.build_metrics()
    model_task.update_metrics(at_model, preds, model_batch)
    moved = {k: abs(float(v) - got[k]) for k, v in at_model.compute().items()}
    assert max(moved[k] - ATOL[k] for k in ("sm", "em_adp", "wfm", "iou")) > 1e-3, moved


def test_per_image_rows_and_pictures_use_the_native_size(native, tmp_path):
    task, batch, preds = native["task"], native["batch"], native["preds"]
    rows = task.per_sample_metrics(preds, batch)
    assert [r["id"] for r in rows] == ["s0", "s1"]
    for row, want in zip(rows, native["per_image"]):
        assert row["em_mean"] == pytest.approx(want["curve"].mean(), abs=1e-4)
        for k in ("sm", "mae", "iou", "dice", "ber"):
            assert row[k] == pytest.approx(want[k], abs=ATOL[k]), k
    paths = task.visualize(batch, preds, tmp_path / "pics", start_index=5)
    assert [p.name for p in paths] == ["00005_s0.png", "00006_s1.png"]
    for path, (h, w) in zip(paths, SIZES):
        panel = cv2.imread(str(path))
        # four native-size tiles under two title lines (name; Sα and IoU): 2 · LINE_H + 4 px
        assert panel.shape == (2 * LINE_H + 4 + h, 4 * w + 3 * 6, 3)


def test_bad_predictions_are_refused_naming_the_sample(tmp_path):
    masks = _dataset(tmp_path, sizes=[(30, 52), (107, 135)])
    task = _task(tmp_path)
    batch = task.collate([task.build_dataset("test")[i] for i in range(2)])
    preds = _predictions(masks)
    preds[1, 0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="sample 's1' holds 1 non-finite"):
        task.update_metrics(task.build_metrics(), preds, batch)
    wide = torch.rand(2, 1, MODEL, 2 * MODEL)  # not the square the model sees, nor the masks' aspect
    with pytest.raises(ValueError, match=r"prediction for 's0'.*aspect"):
        task.update_metrics(task.build_metrics(), wide, batch)
    with pytest.raises(ValueError, match="aspect"):  # a transposed prediction is never stretched
        resize_probabilities(torch.rand(1, 517, 300), (300, 517))
    assert resize_probabilities(torch.rand(1, 150, 258), (300, 517)).shape == (1, 300, 517)


def test_metric_inputs_uint8_nonfinite_and_other_dtypes():
    rng = np.random.default_rng(0)
    gt = torch.from_numpy(rng.random((2, 1, 12, 16)) > 0.6).float()
    prob = torch.from_numpy(rng.random((2, 1, 12, 16))).float()
    as_uint8 = (prob * 255).round().to(torch.uint8)
    a, b = segmentation_metrics(), segmentation_metrics()
    a.update(as_uint8, gt)
    b.update(as_uint8.float() / 255, gt)
    for k, v in a.compute().items():
        assert float(v) == pytest.approx(float(b.compute()[k]), abs=1e-12), k
    bad = prob.clone()
    bad[1, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="prediction 1 of the batch holds 1 non-finite"):
        s_measure(bad, gt)
    with pytest.raises(ValueError, match="torch.int32"):
        mae(as_uint8.int(), gt)


def test_one_ground_truth_rule_uint8_above_128_and_zero_one_masks(tmp_path):
    pred = torch.tensor([[[0.9, 0.1, 0.8, 0.2]]])
    as_255 = torch.tensor([[[255, 128, 129, 0]]], dtype=torch.uint8)  # 128 is background: gt > 128
    as_float = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]])
    as_01 = torch.tensor([[[1, 0, 1, 0]]], dtype=torch.uint8)  # a {0, 1} mask is read as binary
    want = ref_mae(pred[0].numpy(), as_float[0].numpy())
    for gt in (as_255, as_float, as_01):
        assert float(mae(pred, gt)) == pytest.approx(want, abs=1e-7)
    # files: a {0, 1} PNG is detected and read as binary; a 0..255 PNG is cut at > 128
    image = np.zeros((2, 3, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "i.png"), image)
    for values, expect in (([[0, 1, 1], [0, 0, 1]], [[0, 1, 1], [0, 0, 1]]),
                           ([[0, 128, 129], [255, 0, 1]], [[0, 0, 1], [1, 0, 0]])):
        cv2.imwrite(str(tmp_path / "m.png"), np.array(values, np.uint8))
        _, mask = read_pair(tmp_path / "i.png", tmp_path / "m.png")
        assert mask.tolist() == expect
