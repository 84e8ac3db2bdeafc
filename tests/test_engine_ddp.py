"""Two CPU processes (torchrun, gloo): DDP training runs, and the metrics it evaluates equal a
single-process evaluation of the same weights exactly (no padding duplicates in the counts)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from toy_task import RECIPE, toy_config  # noqa: E402

from lava_vision.train import evaluate, load_trained  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_eval_equals_single_process(tmp_path):
    # 9 eval samples: the processes hold 5 and 4; a padded sampler would count one sample twice
    sets = [f"output.root={tmp_path}", "data.num_eval=9", "eval.every=0", "eval.num_visualize=0",
            "train.epochs=1", "train.batch_size=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", "29517", "tools/train.py", str(RECIPE), "--set", *sets],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "toy_recipe"
    state = json.loads((run / "last" / "adapter_config.json").read_text())["metadata"]
    assert state["step"] == 4  # 16 samples / (2 processes x batch 2) = 4 steps
    logged = json.loads((run / "metrics.json").read_text())
    task, model = load_trained(toy_config(tmp_path, *sets[1:]), run / "last")
    single = evaluate(task, model, "val", batch_size=1)
    assert single == {"mae": logged["mae"], "sign_acc": logged["sign_acc"]}
    # the reference over the 9 samples, computed directly
    data = task.build_dataset("val")
    with torch.no_grad():
        model.eval()  # no adapter dropout
        err = [(model(s["x"][None]).double() - s["y"][None].double()).abs() for s in data]
    assert abs(logged["mae"] - float(torch.cat(err).mean())) < 1e-12
