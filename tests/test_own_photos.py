"""Training on a folder of one's own photos with the documented command
(``tools/train.py tasks/cifar_resnet20_noise.py --set data.root=my_photos``), and a missing data
folder reported at once, before any model or heavy library is built."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import ROOT, run_tool  # noqa: E402

RECIPE = ROOT / "tasks" / "cifar_resnet20_noise.py"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def photo_folder(root: Path, per_class: int) -> Path:
    """``root/<class>/<i>.jpg``: small JPEGs, each class its own colour plus noise."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        colour = np.array([(37 * c) % 256, (91 * c + 40) % 256, (53 * c + 90) % 256])
        for i in range(per_class):
            pixels = np.clip(colour + rng.normal(0, 30, (24, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.jpg", quality=90)
    return root


def test_the_documented_command_trains_on_a_folder_of_300_photos(tmp_path, monkeypatch):
    photos = photo_folder(tmp_path / "my_photos", per_class=30)
    budget = ["train.max_steps=2", "train.batch_size=32", "eval.batch_size=100", f"output.root={tmp_path}",
              "output.name=own"]
    run_tool(monkeypatch, "train.py", str(RECIPE), "--set", f"data.root={photos}", *budget)
    run = tmp_path / "own"
    assert (run / "best" / "adapter.safetensors").is_file()
    # the recipe's fractions (0.5, 0.1, 0.4) of 300 photos: 150 adapt / 30 select / 120 report,
    # disjoint and stratified (3 / 12 per class in select / report)
    from lava_vision.tasks.classification.data import build_dataset
    from lava_vision.train import RunConfig

    cfg = RunConfig.from_dict(json.loads((run / "config.json").read_text()))
    parts = {s: build_dataset(cfg.data, cfg.model, s) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in parts.items()} == {"train": 150, "val": 30, "test": 120}
    ids = [set(map(str, d.index)) for d in parts.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert np.bincount(parts["test"].labels[parts["test"].index], minlength=10).tolist() == [12] * 10
    history = [json.loads(line) for line in (run / "eval_history.jsonl").read_text().splitlines()]
    assert history[-1]["split"] == "val" and history[-1]["acc_class/truck"] >= 0  # names from the folder


def test_a_missing_default_data_folder_is_reported_before_anything_is_built(tmp_path):
    """The recipe's default data.root (../shared/...) does not exist under tmp_path: the error names
    data.root and the --set that fixes it, and comes before the model, torchmetrics or albumentations."""
    script = f"""
import sys, json
sys.path.insert(0, {str(ROOT)!r})
import lava_vision.tasks.classification.task as task_module
built = []
real = task_module.build_classifier
task_module.build_classifier = lambda cfg: built.append(cfg) or real(cfg)
from lava_vision.train import load_recipe, train
cfg = load_recipe({str(RECIPE)!r})
try:
    train(cfg)
except FileNotFoundError as e:
    print(json.dumps({{"error": str(e), "built": len(built),
                      "heavy": [m for m in ("torchmetrics", "albumentations", "timm") if m in sys.modules]}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["error"].startswith("data.root=../shared/real/cifar10-jpg/train: ")
    assert "does not exist" in out["error"] and "--set data.root=PATH" in out["error"]
    assert out["built"] == 0 and out["heavy"] == []
    assert not (tmp_path / "runs").exists()  # nothing written


def test_counts_larger_than_the_folder_name_the_key_and_suggest_fractions(tmp_path, monkeypatch, capsys):
    photos = photo_folder(tmp_path / "my_photos", per_class=30)
    with pytest.raises(SystemExit) as e:
        run_tool(monkeypatch, "train.py", str(RECIPE), "--set", f"data.root={photos}",
                 "data.split_sizes=(5000,1000,4000)", f"output.root={tmp_path}")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "data.split_sizes=(5000, 1000, 4000)" in err and "(300 images): they need 10000 images" in err
    assert "data.split_sizes=(0.5,0.1,0.4)" in err
