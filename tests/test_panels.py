"""Picture panels that compare: base | adapted columns for depth and segmentation, per-image scores
in the titles (checked against numpy computations here), enlarged SDXL panels; and
tools/visualize.py drawing the frozen base's column next to a zoo entry's."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import ROOT, run_tool  # noqa: E402

from lava_vision.tasks.panels import GAP, LINE_H, MIN_TILE, read_columns  # noqa: E402
from lava_vision.train import load_recipe  # noqa: E402
from test_seg_metrics import ref_s_measure  # noqa: E402  (float64 reference from the paper's formula)

torch.set_num_threads(1)


def numbers(title: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+", title)]


def depth_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """(AbsRel, δ1) over the valid pixels, float64."""
    valid = (gt > 1e-3) & (gt < 10.0)
    p, g = pred[valid].astype(np.float64), gt[valid].astype(np.float64)
    return float(np.mean(np.abs(p - g) / g)), float(np.mean(np.maximum(p / g, g / p) < 1.25))


@pytest.fixture(scope="module")
def depth_batch():
    from lava_vision.tasks.depth.task import DepthTask

    cfg = load_recipe(ROOT / "tasks" / "depth_synthetic.py")
    cfg.data.synthetic_eval_n = 2
    task = DepthTask(cfg)
    ds = task.build_dataset("test")
    return task, task.collate([ds[i] for i in range(2)])


def test_depth_panel_has_a_base_column_titled_with_its_scores(depth_batch, tmp_path):
    task, batch = depth_batch
    gt = batch["depth"]
    g = torch.Generator().manual_seed(0)
    adapted = (gt * (1 + 0.15 * torch.randn(gt.shape, generator=g))).clamp(0.5, 9.0)
    base = (gt * 0.6 + 0.3 * torch.rand(gt.shape, generator=g)).clamp(0.5, 9.0)
    with_base = task.visualize(batch, adapted, tmp_path / "with", 0, base_preds=base)
    alone = task.visualize(batch, adapted, tmp_path / "alone", 0)
    h, w = gt.shape[-2:]
    for i in range(2):
        cols = read_columns(with_base[i])
        assert [c.split("\n")[0] for c in cols] == ["RGB", "ground truth", "base", "adapted", "|adapted - gt| / gt"]
        for col, pred in ((cols[2], base[i]), (cols[3], adapted[i])):
            abs_rel, d1 = depth_scores(pred.numpy(), gt[i].numpy())
            assert "AbsRel" in col and "δ1" in col
            np.testing.assert_allclose(numbers(col), [abs_rel, d1], atol=5.1e-4)  # printed with 3 decimals
        assert len(read_columns(alone[i])) == 4
        # one column is 320 px; the height follows the image's aspect ratio
        assert Image.open(with_base[i]).size == (5 * 320, round(100 * (3.2 * h / w + 1.0)))
        assert Image.open(alone[i]).size == (4 * 320, round(100 * (3.2 * h / w + 1.0)))


def test_segmentation_panel_has_a_base_column_titled_with_its_scores(tmp_path):
    from lava_vision.tasks.segmentation.task import SegmentationTask

    cfg = load_recipe(ROOT / "tasks" / "seg_synthetic.py")
    cfg.data.root, cfg.data.synthetic = str(tmp_path / "data"), 2
    task = SegmentationTask(cfg)
    batch = task.collate([task.build_dataset("val")[i] for i in range(2)])
    gt = batch["mask"]
    adapted = torch.roll(gt, shifts=(3, -2), dims=(2, 3))  # near miss
    base = (torch.rand(gt.shape, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    paths = task.visualize(batch, adapted, tmp_path / "pics", 3, base_preds=base)
    for i, path in enumerate(paths):
        cols = read_columns(path)
        assert path.name.startswith(f"{3 + i:05d}_") and len(cols) == 5
        assert cols[0] == "image" and cols[1] == "ground truth" and cols[4].startswith("errors")
        for col, name, pred in ((cols[2], "base", base[i, 0]), (cols[3], "adapted", adapted[i, 0])):
            p, g = pred.numpy() > 0.5, gt[i, 0].numpy() > 0.5
            iou = (p & g).sum() / (p | g).sum()
            assert col.startswith(name) and "Sα" in col and "IoU" in col
            np.testing.assert_allclose(numbers(col), [ref_s_measure(pred.numpy(), gt[i, 0].numpy()), iou], atol=5.1e-4)
        # 64 px tiles enlarged 4x to MIN_TILE, under two title lines, GAP px apart
        k = MIN_TILE // 64
        assert Image.open(path).size == (5 * 64 * k + 4 * GAP, 2 * LINE_H + 4 + 64 * k)
    assert len(read_columns(task.visualize(batch, adapted, tmp_path / "alone", 0)[0])) == 4


def test_text2image_panel_is_enlarged_with_one_column_per_image(tmp_path):
    from lava_vision.tasks.text2image.task import TextToImageTask

    cfg = load_recipe(ROOT / "tasks" / "sdxl_3d_icons.py")
    cfg.data.resolution = 32
    task = TextToImageTask(cfg)
    g = torch.Generator().manual_seed(0)
    images = {k: torch.rand(2, 3, 32, 32, generator=g) for k in ("images", "base_images", "image")}
    prompt = "a 3d icon of a red square on a white background, soft shadows, studio light, high detail"
    preds = {"images": images["images"], "base_images": images["base_images"], "prompts": [prompt, "x"]}
    batch = {"image": images["image"], "id": ["a", "b"], "seed": torch.tensor([0, 1])}
    path = task.visualize(batch, preds, tmp_path, 0)[0]
    assert read_columns(path) == ["base", "adapted", "real"]
    panel = np.asarray(Image.open(path).convert("RGB"))
    k = MIN_TILE // 32  # 32 px tiles enlarged 8x
    assert panel.shape[1] == 3 * 32 * k + 2 * GAP and panel.shape[0] > 32 * k + LINE_H
    # the tiles are the images, enlarged by nearest neighbour (bottom rows of the panel)
    tile = panel[-32 * k:, :32 * k]
    want = (images["base_images"][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(tile, want.repeat(k, 0).repeat(k, 1))
    assert Image.open(path).text["Title"] == f"{prompt} (seed 0)"


def test_visualize_tool_draws_the_frozen_base_next_to_a_zoo_entry(tmp_path, monkeypatch):
    from lava_vision.train import build_base
    from lava_vision.zoo.load import entry_config

    run_tool(monkeypatch, "visualize.py", "--zoo", "depth_synthetic", "--num", "1", "--out", str(tmp_path),
             "--set", "train.precision=fp32")
    (path,) = sorted(tmp_path.glob("*.png"))
    cols = read_columns(path)
    assert [c.split("\n")[0] for c in cols][2:4] == ["base", "adapted"]
    cfg = entry_config("depth_synthetic")
    task, base = build_base(cfg)
    ds = task.build_dataset(cfg.eval.split)
    batch = task.collate([ds[0]])
    device = "cuda" if torch.cuda.is_available() else "cpu"  # where the tool ran
    with torch.no_grad():
        pred = base.to(device).eval()(pixel_values=batch["image"].to(device)).predicted_depth[:, None].cpu()
    pred = torch.nn.functional.interpolate(pred, batch["depth"].shape[-2:], mode="bilinear", align_corners=False)
    np.testing.assert_allclose(numbers(cols[2]), depth_scores(pred[0, 0].clamp(1e-3, 10).numpy(),
                                                              batch["depth"][0].numpy()), atol=5.1e-4)


def test_evaluation_pictures_have_a_base_column_only_when_bypassing_gives_the_base(tmp_path):
    """The trainer's pictures (``evaluate(..., pictures_dir=...)``): with adapters bypassed the
    column is the frozen base; with a module trained in full there is no base in memory, so no column."""
    import dataclasses

    from lava_vision import zoo
    from lava_vision.adapters import inject
    from lava_vision.train import build_base, evaluate

    entry = zoo.load("depth_synthetic")
    evaluate(entry.task, entry.model, "test", 1, 1, pictures_dir=tmp_path / "a", num_pictures=1)
    (path,) = sorted((tmp_path / "a").glob("*.png"))
    cols = read_columns(path)
    assert [c.split("\n")[0] for c in cols][2:4] == ["base", "adapted"]
    task, base = build_base(entry.config)
    batch = task.collate([task.build_dataset("test")[0]])
    with torch.no_grad():
        pred = base.eval()(pixel_values=batch["image"]).predicted_depth[:, None]
    pred = torch.nn.functional.interpolate(pred, batch["depth"].shape[-2:], mode="bilinear", align_corners=False)
    np.testing.assert_allclose(numbers(cols[2]), depth_scores(pred[0, 0].clamp(1e-3, 10).numpy(),
                                                              batch["depth"][0].numpy()), atol=5.1e-4)

    task, model = build_base(entry.config)
    inject(model, dataclasses.replace(entry.config.adapter, modules_to_save=["head.conv3"]))
    evaluate(task, model, "test", 1, 1, pictures_dir=tmp_path / "b", num_pictures=1)
    (path,) = sorted((tmp_path / "b").glob("*.png"))
    titles = [c.split("\n")[0] for c in read_columns(path)]
    assert titles == ["RGB", "ground truth", "prediction", "|prediction - gt| / gt"]
