"""Config values are checked before the model is built (a typo costs a second, not a model load),
eval.mode accepts only "max"/"min", an unknown main metric never loses the trained weights, and
the logged peak memory belongs to the run, not to the process."""
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from toy_task import ToyTask, toy_config  # noqa: E402

from lava_vision.adapters import AdapterConfigError  # noqa: E402
from lava_vision.train import RecipeError, train  # noqa: E402
from lava_vision.train.checkpoint import load_trainer_state  # noqa: E402

QUIET = ["eval.num_visualize=0", "train.log_every=1"]


@pytest.mark.parametrize("item, message", [
    ("eval.mode=Max", "eval.mode='Max': expected one of 'max', 'min'"),
    ("eval.main_metric=maee", "eval.main_metric='maee': not a metric of task 'toy'; its metrics: mae, sign_acc"),
    ("adapter.method=lava2", "adapter.method='lava2'"),
    ("optim.name=adam", "optim.name='adam': expected one of 'adamw', 'sgd'"),
    ("schedule.name=cos", "schedule.name='cos'"),
    ("adapter.rank=0", "adapter.rank=0: must be a positive integer"),
    ("adapter.preset=vitt", "adapter.preset='vitt': unknown"),
    ("train.keep_last=0", "train.keep_last=0: expected an integer >= 1"),
    ("train.save_every_minutes=-1", "train.save_every_minutes=-1.0"),
    ("train.trackers=['tensorbord']", "train.trackers: 'tensorbord' is not an Accelerate tracker"),
    ("train.precision=fp8", "train.precision='fp8'"),
    ("optim.lr=0", "optim.lr=0.0"),
    ("schedule.min_lr_ratio=1.5", "schedule.min_lr_ratio=1.5"),
])
def test_bad_values_are_refused_before_the_model_is_built(tmp_path, monkeypatch, item, message):
    def never(self):
        raise AssertionError("the model was built before the config was checked")

    monkeypatch.setattr(ToyTask, "build_model", never)
    monkeypatch.setattr(ToyTask, "build_dataset", never)
    cfg = toy_config(tmp_path, item)
    started = time.perf_counter()
    with pytest.raises((RecipeError, AdapterConfigError), match=re.escape(message)):
        train(cfg)
    assert time.perf_counter() - started < 5.0  # checks only: no model, no data (loaded machine: lenient)
    assert not (tmp_path / "toy_recipe").exists()  # and nothing written


def test_a_missing_dataset_is_found_before_the_model_is_built(tmp_path, monkeypatch):
    def never(self):
        raise AssertionError("the model was built before the datasets")

    monkeypatch.setattr(ToyTask, "build_model", never)
    with pytest.raises(FileNotFoundError, match="toy dataset folder not found"):
        train(toy_config(tmp_path, f"data.root={tmp_path / 'missing'}"))


def test_eval_mode_max_keeps_the_highest_and_min_the_lowest(tmp_path):
    for mode, pick in (("max", max), ("min", min)):
        run = train(toy_config(tmp_path / mode, "train.epochs=3", "eval.main_metric=mae", f"eval.mode={mode}", *QUIET))
        history = [json.loads(x)["mae"] for x in (run / "eval_history.jsonl").read_text().splitlines()]
        assert len(set(history)) == 3
        best = json.loads((run / "best" / "adapter_config.json").read_text())["metadata"]["metrics"]["mae"]
        assert best == pick(history)


def test_unknown_main_metric_of_an_undeclaring_task_keeps_the_weights(tmp_path, monkeypatch):
    # a task without metric_names(): the metric is found unknown only at its first evaluation,
    # here after the first epoch (step 4), before that epoch's checkpoint
    monkeypatch.delattr(ToyTask, "metric_names")
    sets = ["train.epochs=2", "eval.every=1", *QUIET]
    with pytest.raises(KeyError, match="eval.main_metric='maee' is not among the metrics.*continue with --resume"):
        train(toy_config(tmp_path, *sets, "eval.main_metric=maee"))
    run = tmp_path / "toy_recipe"
    assert load_trainer_state(run / "last")["position"]["global_step"] == 4  # the trained steps are kept
    with pytest.warns(UserWarning, match="changed config: eval.main_metric"):
        train(toy_config(tmp_path, *sets, "eval.main_metric=mae"), resume=True)
    assert json.loads((run / "metrics.json").read_text())["step"] == 8


def test_a_failing_final_evaluation_keeps_the_weights(tmp_path, monkeypatch):
    def broken(self, metrics, preds, batch):
        raise RuntimeError("metric update failed")

    monkeypatch.setattr(ToyTask, "update_metrics", broken)
    with pytest.raises(RuntimeError, match="metric update failed"):  # 6 steps: mid-epoch, no epoch-end save
        train(toy_config(tmp_path, "train.max_steps=6", "eval.every=0", "train.save_every_minutes=0", *QUIET))
    assert load_trainer_state(tmp_path / "toy_recipe" / "last")["position"]["global_step"] == 6


def _rss_mb() -> float:
    return int(re.search(r"^VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE).group(1)) / 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="per-run CPU peak needs Linux /proc")
def test_peak_memory_is_per_run_not_per_process(tmp_path):
    big = np.ones(600 * 2**20 // 8)  # 600 MiB touched, then freed: the process peak is far above now
    del big
    now = _rss_mb()
    run = train(toy_config(tmp_path, "train.epochs=1", *QUIET))
    peaks = [json.loads(x)["peak_mem_mb"] for x in (run / "log.jsonl").read_text().splitlines()
             if json.loads(x)["kind"] == "train"]
    assert all(now - 100 < p < now + 300 for p in peaks), (now, peaks)


@pytest.mark.parametrize("recipe", ["quickstart", "depth_synthetic", "seg_synthetic"])
def test_declared_metric_names_are_what_the_metrics_compute(recipe):
    """The early eval.main_metric check uses Task.metric_names(): it must list exactly the keys of
    a real evaluation (computed here on random predictions)."""
    import torch

    from lava_vision.tasks import get_task
    from lava_vision.train import load_recipe

    cfg = load_recipe(Path(__file__).resolve().parents[1] / "tasks" / f"{recipe}.py")
    task = get_task(cfg.task)(cfg)
    metrics = task.build_metrics()
    g = torch.Generator().manual_seed(0)
    if cfg.task == "classification":
        n = cfg.model.num_classes
        metrics.update(torch.rand(4, n, generator=g).softmax(1), torch.randint(0, n, (4,), generator=g))
    elif cfg.task == "depth":
        metrics.update(torch.rand(2, 8, 8, generator=g) + 1, torch.rand(2, 8, 8, generator=g) + 1)
    else:
        metrics.update(torch.rand(2, 1, 8, 8, generator=g), (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float())
    assert sorted(metrics.compute()) == sorted(task.metric_names())


def test_a_tracker_that_is_not_installed_is_refused(tmp_path, monkeypatch):
    # Accelerate itself would drop it silently and log nothing
    monkeypatch.setattr("accelerate.tracking.get_available_trackers", lambda: ["tensorboard"])
    with pytest.raises(RecipeError, match=r"train.trackers: 'wandb' is not installed \(pip install wandb\)"):
        train(toy_config(tmp_path, "train.trackers=['tensorboard', 'wandb']"))
