"""tasks/seg_synthetic.py through the generic trainer: a run folder with metrics, adapter, pictures."""
from __future__ import annotations

import json
from pathlib import Path

from lava_vision.tasks.segmentation.tiny import save_tiny_sam
from lava_vision.train.recipe import apply_overrides, load_recipe
from lava_vision.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]


def test_synthetic_recipe_trains_end_to_end(tmp_path):
    ckpt = save_tiny_sam(tmp_path / "tiny_sam.pth")
    cfg = apply_overrides(load_recipe(ROOT / "tasks" / "seg_synthetic.py"), [
        f"model.checkpoint={ckpt}", f"data.root={tmp_path / 'data'}", f"output.root={tmp_path / 'runs'}",
        "data.synthetic=4", "train.max_steps=2", "train.batch_size=2", "eval.batch_size=4", "eval.num_visualize=2"])
    run = train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"sm", "em_mean", "wfm", "mae", "iou", "dice", "ber"} <= set(metrics)
    assert 0 <= metrics["sm"] <= 1 and 0 <= metrics["ber"] <= 100
    assert (run / "best" / "adapter.safetensors").is_file()
    assert list((run / "pictures").rglob("*.png"))
