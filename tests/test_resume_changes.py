"""--resume with a changed config (docs/resume.md): a longer train.max_steps extends the schedule
as a fresh run with that max_steps would run it from the resumed step, a new lr applies from the
resumed step, a key that fixes the model, adapter or data is refused before anything is written,
and config.json plus log.jsonl record what changed at which step."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from toy_task import toy_config  # noqa: E402

from lava_vision.train import RecipeError, train  # noqa: E402

SETS = ["train.log_every=1", "eval.every=0", "eval.num_visualize=0", "train.save_every_minutes=0"]


def train_records(run: Path) -> dict[int, dict]:
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r for r in lines if r["kind"] == "train"}


def cosine_lr(peak: float, step: int, total: int, warmup: int) -> float:
    """The lr optimiser step ``step`` (1-based) uses under linear warmup + cosine to 0 (the published
    SGDR / transformers form, with the first warmup step at peak / warmup)."""
    k = step - 1
    if k < warmup:
        return peak * (k + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (k - warmup) / (total - warmup)))


def test_longer_max_steps_extends_the_schedule_and_keeps_training(tmp_path):
    sets = [*SETS, "schedule.name=cosine", "schedule.warmup_steps=2", "optim.lr=0.05"]
    run = train(toy_config(tmp_path, *sets, "train.max_steps=4"))
    before = load_file(str(run / "last" / "adapter.safetensors"))
    with pytest.warns(UserWarning, match="train.max_steps"):
        train(toy_config(tmp_path, *sets, "train.max_steps=8"), resume=True)
    logged = train_records(run)
    assert sorted(logged) == list(range(1, 9))
    for step in range(5, 9):  # the schedule of a fresh 8-step run, from step 5 on
        assert logged[step]["lr"] == pytest.approx(cosine_lr(0.05, step, 8, 2), rel=1e-6)
        assert logged[step]["lr"] > 0
    after = load_file(str(run / "last" / "adapter.safetensors"))
    moved = [k for k in after if not torch.equal(after[k], before[k])]
    assert moved, "no adapter tensor changed in steps 5-8"
    assert json.loads((run / "metrics.json").read_text())["step"] == 8
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["max_steps"] == 8
    assert config["resumed"] == [{"step": 4, "changed": {"train.max_steps": [4, 8]}}]
    resumes = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()
               if json.loads(x)["kind"] == "resume"]
    assert [(r["step"], r["changed"]) for r in resumes] == [(4, {"train.max_steps": [4, 8]})]


def test_new_lr_applies_from_the_resumed_step_and_the_folder_says_so(tmp_path):
    sets = [*SETS, "schedule.name=constant", "schedule.warmup_steps=0"]
    run = train(toy_config(tmp_path, *sets, "optim.lr=0.05", "train.max_steps=4"))
    with pytest.warns(UserWarning, match="optim.lr"):
        train(toy_config(tmp_path, *sets, "optim.lr=0.01", "train.max_steps=6"), resume=True)
    lrs = {s: r["lr"] for s, r in train_records(run).items()}
    assert lrs == pytest.approx({1: 0.05, 2: 0.05, 3: 0.05, 4: 0.05, 5: 0.01, 6: 0.01}, rel=1e-7)
    config = json.loads((run / "config.json").read_text())
    assert config["optim"]["lr"] == 0.01
    assert config["resumed"][0]["step"] == 4
    assert config["resumed"][0]["changed"]["optim.lr"] == [0.05, 0.01]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("change, key", [("adapter.rank=3", "adapter.rank"), ("model.hidden=9", "model.hidden"),
                                         ("data.num_train=20", "data.num_train"),
                                         ("train.batch_size=2", "train.batch_size")])
def test_a_key_that_cannot_change_is_refused_before_anything_is_written(tmp_path, change, key):
    run = train(toy_config(tmp_path, *SETS, "train.max_steps=2"))
    before = snapshot(run)
    with pytest.raises(RecipeError, match=rf"{key}.*cannot change on --resume"):
        train(toy_config(tmp_path, *SETS, "train.max_steps=4", change), resume=True)
    assert snapshot(run) == before
