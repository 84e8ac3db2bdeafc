"""The evaluation protocol: no recipe selects a checkpoint on a test split, validation is held out
of the training data (NYU by room, CIFAR a fixed 5,000, segmentation a fraction or the official
val), checkpoints record the split they were chosen on and tools/eval.py says so."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from scipy.io import savemat

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import RECIPE, toy_config  # noqa: E402

from lava_vision.data.nyu import scene_of  # noqa: E402
from lava_vision.tasks.depth.config import DepthDataConfig  # noqa: E402
from lava_vision.tasks.depth.data import build_raw  # noqa: E402
from lava_vision.tasks.segmentation.config import SamModelConfig, SegDataConfig  # noqa: E402
from lava_vision.tasks.segmentation.task import SegmentationTask  # noqa: E402
from lava_vision.train import RunConfig, load_recipe, train  # noqa: E402
from lava_vision.train.protocol import SelectionError, check_selection, describe_checkpoint  # noqa: E402
from lava_vision.train.trainer import Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "tasks").glob("*.py"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_no_recipe_selects_on_a_test_split(path):
    cfg = load_recipe(path)
    check_selection(cfg)
    assert cfg.eval.split != "test" and not cfg.eval.select_on_test, path.name
    if cfg.task == "segmentation":  # "val" may not be the test list under another name
        assert cfg.data.splits.get("val") is None or cfg.data.splits["val"] != cfg.data.splits.get("test")
        SegmentationTask(cfg)  # the task's own check of data.splits


def test_selecting_on_test_is_refused_naming_the_keys_unless_opted_in(tmp_path):
    cfg = toy_config(tmp_path, "eval.split=test")
    with pytest.raises(SelectionError, match=r"eval.split='test' with eval.main_metric='mae'.*eval.select_on_test"):
        check_selection(cfg)
    with pytest.raises(SelectionError):
        Trainer(cfg)  # before anything is built or written
    assert not (tmp_path / cfg.output.name).exists()
    check_selection(toy_config(tmp_path, "eval.split=test", "eval.select_on_test=true"))
    check_selection(toy_config(tmp_path, "eval.split=test", "eval.main_metric="))  # nothing is selected


def test_checkpoints_record_their_selection_and_eval_prints_it(tmp_path, monkeypatch, capsys):
    run = train(toy_config(tmp_path, "train.max_steps=4", "eval.num_visualize=0", "output.name=sel"))
    best = json.loads((run / "best" / "adapter_config.json").read_text())["metadata"]["selection"]
    last = json.loads((run / "last" / "adapter_config.json").read_text())["metadata"]["selection"]
    assert (best["kind"], best["split"], best["metric"], best["mode"]) == ("best", "val", "mae", "min")
    assert (last["kind"], last["split"], last["step"]) == ("last", None, 4)
    run_tool(monkeypatch, "eval.py", str(RECIPE), "--adapter", str(run), "--split", "test",
             "--set", f"output.root={tmp_path}")
    out = capsys.readouterr().out
    assert f"checkpoint: {run / 'best'}: best/ checkpoint, chosen by mae (min) on split 'val' at step" in out
    assert "optimistic" not in out
    assert json.loads((run / "eval_test.json").read_text())["selection"]["split"] == "val"
    run_tool(monkeypatch, "eval.py", str(RECIPE), "--adapter", str(run), "--split", "val")
    assert "chosen on 'val', so its 'val' numbers are optimistic" in capsys.readouterr().out
    assert describe_checkpoint(run / "last")[0].endswith("last/ checkpoint (step 4; not chosen on any split)")


def _nyu_sync(root: Path) -> DepthDataConfig:
    """A sync-layout training list of 10 rooms (kitchen_0001a and _0001b are one room), 4 frames each."""
    rooms = ["kitchen_0001a", "kitchen_0001b"] + [f"room_{i:04d}" for i in range(9)]
    lines = [f"/{r}/rgb_{k:05d}.jpg /{r}/sync_depth_{k:05d}.png 518.8" for r in rooms for k in range(4)]
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    (root / "test.txt").write_text("/rgb_00001.jpg /sync_depth_00001.png 518.8\n")
    for line in lines + ["/rgb_00001.jpg /sync_depth_00001.png 518.8"]:  # listed files must exist (contents unread)
        for name in line.split()[:2]:
            (root / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / name.lstrip("/")).touch()
    return DepthDataConfig(source="nyu_sync", root=str(root), train_split=str(root / "train.txt"),
                           test_root=str(root), test_split=str(root / "test.txt"), val_fraction=0.2)


def test_nyu_validation_holds_out_whole_rooms_of_the_training_list(tmp_path):
    cfg = _nyu_sync(tmp_path)
    train_rows, val_rows = build_raw(cfg, "train").rows, build_raw(cfg, "val").rows
    assert len(train_rows) + len(val_rows) == 44 and not set(train_rows) & set(val_rows)
    train_rooms = {scene_of(r[0]) for r in train_rows}
    val_rooms = {scene_of(r[0]) for r in val_rows}
    assert not train_rooms & val_rooms  # no room seen in training selects a checkpoint
    assert len(val_rows) >= 0.2 * 44 and len(val_rooms) >= 2
    assert scene_of("/kitchen_0001b/rgb_00001.jpg") == scene_of("kitchen_0001a") == "kitchen_0001"
    # fixed: independent of the training seed, moved only by data.val_seed
    assert build_raw(cfg, "val", seed=5).rows == val_rows
    cfg.val_seed = 1
    assert {scene_of(r[0]) for r in build_raw(cfg, "val").rows} != val_rooms
    assert build_raw(cfg, "test").rows == [("rgb_00001.jpg", "sync_depth_00001.png", 518.8)]


def test_nyu_labeled_validation_holds_out_rooms_of_train_indices(tmp_path):
    scenes = ["bedroom_0001", "bedroom_0002a", "bedroom_0002b", "office_0003", "office_0004", "kitchen_0005"]
    with h5py.File(tmp_path / "labeled.mat", "w") as f:
        f["images"] = np.zeros((6, 3, 5, 4), np.uint8)
        f["depths"] = np.ones((6, 5, 4), np.float32)
        refs = [f.create_dataset(f"#refs#/{i}", data=np.array([ord(c) for c in s], np.uint16)[:, None]).ref
                for i, s in enumerate(scenes)]
        f.create_dataset("scenes", data=np.array(refs, dtype=h5py.ref_dtype)[None, :])
    savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1], [2], [3], [4], [5]]), "testNdxs": np.array([[6]])})
    cfg = DepthDataConfig(source="nyu_labeled", labeled_mat=str(tmp_path / "labeled.mat"),
                          splits_mat=str(tmp_path / "splits.mat"), val_fraction=0.3)
    train_idx, val_idx = build_raw(cfg, "train").indices.tolist(), build_raw(cfg, "val").indices.tolist()
    assert sorted(train_idx + val_idx) == [0, 1, 2, 3, 4] and build_raw(cfg, "test").indices.tolist() == [5]
    assert {1, 2} <= set(train_idx) or {1, 2} <= set(val_idx)  # bedroom_0002a/b: one room, one side
    assert not {scene_of(scenes[i]) for i in train_idx} & {scene_of(scenes[i]) for i in val_idx}


def _seg_folder(root: Path, n: int) -> None:
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"{i:02d}.png"), np.zeros((8, 8, 3), np.uint8))
        cv2.imwrite(str(root / "masks" / f"{i:02d}.png"), np.zeros((8, 8), np.uint8))


def _seg_task(root: Path, splits: dict) -> SegmentationTask:
    return SegmentationTask(RunConfig(task="segmentation", model=SamModelConfig(arch="custom"),
                                      data=SegDataConfig(root=str(root), splits=splits, image_size=8)))


def test_segmentation_validation_is_a_fraction_of_train_or_the_official_val(tmp_path):
    _seg_folder(tmp_path / "train", 20)
    _seg_folder(tmp_path / "test", 3)
    _seg_folder(tmp_path / "official_val", 4)
    task = _seg_task(tmp_path, {"train": "train", "test": "test"})
    train_ids = [p[0].name for p in task.build_dataset("train").pairs]
    val_ids = [p[0].name for p in task.build_dataset("val").pairs]
    assert len(val_ids) == 2 and len(train_ids) == 18 and not set(train_ids) & set(val_ids)
    assert val_ids == [p[0].name for p in task.build_dataset("val").pairs]  # fixed
    official = _seg_task(tmp_path, {"train": "train", "val": "official_val", "test": "test"})
    assert len(official.build_dataset("train")) == 20 and len(official.build_dataset("val")) == 4
    with pytest.raises(ValueError, match=r"data.splits: 'val' and 'test' both read 'test'"):
        _seg_task(tmp_path, {"train": "train", "val": "test", "test": "test"})
