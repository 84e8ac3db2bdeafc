"""Stored configs survive a move to another clone; task preprocessing descriptions match the
tasks' own evaluation pipelines."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import lava_vision
from lava_vision.train import load_recipe
from lava_vision.zoo import Preprocess, portable
from lava_vision.zoo.portable import foreign_paths, from_portable, to_portable

REPO = Path(__file__).resolve().parent.parent
PKG = Path(lava_vision.__file__).resolve().parent


def test_package_and_repo_paths_become_relative():
    cfg = {"model": {"checkpoint": str(PKG / "assets" / "depth_synthetic_base")},
           "data": {"root": str(REPO / "datasets" / "nyu"), "rel": "datasets/cifar", "other": "/srv/data/x",
                    "hub": "depth-anything/Depth-Anything-V2-Small-hf", "list": [str(PKG)]}}
    out = to_portable(cfg)
    assert out == {"model": {"checkpoint": "{pkg}/assets/depth_synthetic_base"},
                   "data": {"root": "{repo}/datasets/nyu", "rel": "datasets/cifar", "other": "/srv/data/x",
                            "hub": "depth-anything/Depth-Anything-V2-Small-hf", "list": ["{pkg}"]}}
    assert foreign_paths(out) == ["data.other=/srv/data/x"]
    assert from_portable(out) == cfg


def test_resolves_against_another_clone(monkeypatch, tmp_path):
    stored = to_portable(load_recipe(REPO / "tasks" / "depth_synthetic.py").to_dict())
    assert stored["model"]["checkpoint"] == "{pkg}/assets/depth_synthetic_base"
    clone = tmp_path / "elsewhere" / "lava_vision"
    monkeypatch.setattr(portable, "package_dir", lambda: clone)
    assert from_portable(stored)["model"]["checkpoint"] == str(clone / "assets" / "depth_synthetic_base")


def test_depth_preprocessing_matches_eval_pipeline():
    from lava_vision.data.depth_transforms import eval_resize, to_tensor
    from lava_vision.tasks.depth.task import DepthTask

    cfg = load_recipe(REPO / "tasks" / "depth_synthetic.py")
    pre = Preprocess.from_dict(DepthTask(cfg).preprocessing())
    rgb = np.random.default_rng(0).integers(0, 256, (61, 90, 3), dtype=np.uint8)
    ref = to_tensor(eval_resize(rgb, cfg.data.input_size))
    out = pre(rgb)
    assert out.shape == (1, 3, 84, 126) == (1, *ref.shape)  # 61 -> 84, 90 * 84/61 = 123.9 -> 126 (x14)
    torch.testing.assert_close(out[0], ref, rtol=0, atol=1e-6)


def test_preprocess_by_hand():
    pre = Preprocess(resize="square", size=2, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    img = np.array([[[255, 0, 51], [0, 255, 102]], [[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    out = pre(img)[0]
    # (x / 255 - mean) / std, channel first: R: (1-.5)/.5 = 1, (0-.5)/.5 = -1; G: (0-.25)/.25 = -1, (1-.25)/.25 = 3
    expected = torch.tensor([[[1.0, -1.0], [1.0, -1.0]], [[-1.0, 3.0], [3.0, -1.0]], [[0.2, 0.4], [1.0, 0.0]]])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_segmentation_preprocessing_matches_dataset_transform():
    from lava_vision.data.segmentation import build_transform
    from lava_vision.tasks.segmentation.config import SamModelConfig, SegDataConfig
    from lava_vision.tasks.segmentation.task import SegmentationTask
    from lava_vision.train import RunConfig

    cfg = RunConfig(task="segmentation", model=SamModelConfig(), data=SegDataConfig(image_size=40))
    pre = Preprocess.from_dict(SegmentationTask(cfg).preprocessing())
    rgb = np.random.default_rng(1).integers(0, 256, (57, 33, 3), dtype=np.uint8)
    resized = build_transform(40, train=False)(image=rgb, mask=np.zeros((57, 33), np.uint8))["image"]
    ref = torch.from_numpy(resized).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(pre(rgb)[0], ref, rtol=0, atol=1e-6)
