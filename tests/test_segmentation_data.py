"""Segmentation readers (folders, CSV), joint augmentation, bad-input errors, recipes."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lava_vision.data.segmentation import (
    BinarySegmentationDataset,
    build_transform,
    pairs_from_csv,
    pairs_from_folders,
    read_pair,
)
from lava_vision.data.synthetic_segmentation import write_synthetic_segmentation

ROOT = Path(__file__).resolve().parents[1]


def _write(folder: Path, stem: str, image: np.ndarray, mask: np.ndarray) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "images" / f"{stem}.jpg"), image)
    cv2.imwrite(str(folder / "masks" / f"{stem}.png"), mask)


def test_folder_pairs_binarise_resize_and_flip_jointly(tmp_path):
    image = np.zeros((6, 8, 3), np.uint8)
    image[:, :4] = 200  # left half bright (BGR grey)
    mask = np.zeros((6, 8), np.uint8)
    mask[:, :4] = 129   # just above the threshold: foreground
    mask[:, 4:] = 128   # exactly the threshold: background (PySODMetrics' gt > 128)
    _write(tmp_path / "train", "a", image, mask)
    pairs = pairs_from_folders(tmp_path / "train")
    assert [(p.name, q.name) for p, q in pairs] == [("a.jpg", "a.png")]
    _, m = read_pair(*pairs[0])
    assert m[:, :4].all() and not m[:, 4:].any()
    ds = BinarySegmentationDataset(pairs, build_transform(16, train=True, hflip=1.0))
    s = ds[0]
    assert s["image"].shape == (3, 16, 16) and s["mask"].shape == (1, 16, 16) and s["id"] == "a"
    assert set(s["mask"].unique().tolist()) <= {0.0, 1.0}
    # flipped together: the mask is now on the right, where the image is bright
    assert s["mask"][0, :, 8:].all() and not s["mask"][0, :, :8].any()
    assert s["image"][:, :, 12:].min() > 0.7 and s["image"][:, :, :4].max() < 0.1
    ev = BinarySegmentationDataset(pairs, build_transform(16, train=False))[0]
    assert ev["mask"][0, :, :8].all()


def test_csv_pairs_relative_to_the_csv(tmp_path):
    _write(tmp_path / "data", "x", np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 255, np.uint8))
    (tmp_path / "lists").mkdir()
    csv = tmp_path / "lists" / "train.csv"
    csv.write_text("image,label\n../data/images/x.jpg,../data/masks/x.png\n")
    pairs = pairs_from_csv(csv)
    assert pairs == [(tmp_path / "lists/../data/images/x.jpg", tmp_path / "lists/../data/masks/x.png")]
    bad = tmp_path / "lists" / "bad.csv"
    bad.write_text("img,mask\na,b\n")
    with pytest.raises(ValueError, match=r"bad.csv: expected columns 'image' and 'label'"):
        pairs_from_csv(bad)
    gone = tmp_path / "lists" / "gone.csv"
    gone.write_text("image,label\n../data/images/x.jpg,../data/masks/nope.png\n")
    with pytest.raises(FileNotFoundError, match=r"gone.csv, line 2: file .*nope.png not found"):
        pairs_from_csv(gone)


def test_bad_input_names_the_file(tmp_path):
    _write(tmp_path / "s", "ok", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8))
    cv2.imwrite(str(tmp_path / "s" / "images" / "lonely.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="without a mask.*lonely.png"):
        pairs_from_folders(tmp_path / "s")
    (tmp_path / "s" / "images" / "lonely.png").unlink()
    with pytest.raises(FileNotFoundError, match="nothere"):
        pairs_from_folders(tmp_path / "nothere")
    _write(tmp_path / "t", "big", np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4), np.uint8))
    with pytest.raises(ValueError, match=r"mask .*big.png is 4x5 but image .*big.jpg is 4x4"):
        read_pair(*pairs_from_folders(tmp_path / "t")[0])
    (tmp_path / "t" / "masks" / "big.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"big.png: cannot decode image"):
        read_pair(*pairs_from_folders(tmp_path / "t")[0])


def test_synthetic_dataset_is_deterministic_and_binary(tmp_path):
    a = write_synthetic_segmentation(tmp_path / "a", {"train": 3}, size=32, seed=1)
    b = write_synthetic_segmentation(tmp_path / "b", {"train": 3}, size=32, seed=1)
    pa, pb = pairs_from_folders(a / "train"), pairs_from_folders(b / "train")
    for (ia, ma), (ib, mb) in zip(pa, pb):
        assert np.array_equal(cv2.imread(str(ia)), cv2.imread(str(ib)))
        m = cv2.imread(str(ma), cv2.IMREAD_GRAYSCALE)
        assert set(np.unique(m)) == {0, 255} and np.array_equal(m, cv2.imread(str(mb), cv2.IMREAD_GRAYSCALE))


@pytest.mark.parametrize("name,metric,mode,lr,epochs,lam,loss", [
    ("seg_polyp", "sm", "max", 1e-4, 30, 0.5, "structure"), ("seg_camo", "sm", "max", 1e-4, 20, 0.1, "structure"),
    ("seg_isic", "iou", "max", 1e-3, 30, 1.0, "structure"), ("seg_leaf", "iou", "max", 3e-4, 30, 0.1, "structure"),
    ("seg_sbu", "ber", "min", 1e-4, 10, 0.1, "balanced_bce")])
def test_recipes_follow_table_12_and_roundtrip(name, metric, mode, lr, epochs, lam, loss):
    from lava_vision.train.config import RunConfig
    from lava_vision.train.recipe import load_recipe

    cfg = load_recipe(ROOT / "tasks" / f"{name}.py")
    assert (cfg.eval.main_metric, cfg.eval.mode, cfg.optim.lr, cfg.train.epochs, cfg.adapter.lam, cfg.loss.name) == (
        metric, mode, lr, epochs, lam, loss)
    assert (cfg.adapter.rank, cfg.adapter.alpha, cfg.train.batch_size, cfg.adapter.preset) == (3, 32, 4, "sam")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    lora = load_recipe(ROOT / "tasks" / "seg_polyp_lora.py")
    assert (lora.adapter.method, lora.adapter.lam, lora.optim.lr) == ("lora", 0.0, 1e-4)


def test_synthetic_recipe_roundtrips():
    from lava_vision.train.config import RunConfig
    from lava_vision.train.recipe import load_recipe

    cfg = load_recipe(ROOT / "tasks" / "seg_synthetic.py")
    again = RunConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.model.custom.global_attn_indexes == (1,)
    assert torch.Size([cfg.data.image_size]) == torch.Size([again.model.custom.image_size])
