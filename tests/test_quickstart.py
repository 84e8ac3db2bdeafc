"""The offline quickstart end to end through tools/train.py: a short LAVA run on the shifted
domain must clearly beat the frozen bundled base on the same validation images."""
import json
import subprocess
import sys
from pathlib import Path

from lava_vision.train import build_base, evaluate, load_recipe
from lava_vision.train.recipe import apply_overrides

ROOT = Path(__file__).resolve().parents[1]
# a short run with a higher learning rate than the recipe, so that it finishes in seconds
SHORT = ["train.max_steps=40", "train.batch_size=32", "optim.lr=3e-2", "data.train_size=640", "data.val_size=200",
         "eval.num_visualize=2"]


def test_quickstart_adapts_beyond_the_frozen_base(tmp_path):
    overrides = SHORT + [f"output.root={tmp_path}", "output.name=qs"]
    cfg = apply_overrides(load_recipe(ROOT / "tasks" / "quickstart.py"), overrides)
    task, base = build_base(cfg)
    before = evaluate(task, base, "val", batch_size=200)

    proc = subprocess.run([sys.executable, "tools/train.py", "tasks/quickstart.py", "--set", *overrides],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "qs"
    assert f"run folder: {run}" in proc.stdout
    after = json.loads((run / "metrics.json").read_text())
    assert after["top1"] > before["top1"] + 0.15, (before["top1"], after["top1"])
    assert (run / "last" / "adapter.safetensors").is_file()
    assert len(list((run / "pictures").rglob("*.png"))) >= 2
