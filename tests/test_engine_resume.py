"""Losing no work: a real SIGKILL at a random moment (also mid-checkpoint) and SIGINT/SIGTERM, then
--resume, reach the uninterrupted weights with a log free of duplicates; a corrupt last/ falls back
to the checkpoint before it; a failed --resume changes nothing; a full disk leaves the previous
checkpoint and no temporary folder; failed runs neither leave empty folders nor mix with the next."""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import RECIPE, ToyTask, toy_config  # noqa: E402

from lava_vision.train import train  # noqa: E402
from lava_vision.train.checkpoint import CheckpointError, CheckpointWriteError, load_trainer_state  # noqa: E402
from lava_vision.train.trainer import TrainingInterrupted  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# 6 epochs x 4 steps, adapter dropout 0.2 (RNG states matter), an evaluation every epoch
SETS = ["train.epochs=6", "eval.every=1", "eval.num_visualize=0", "train.log_every=1"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    return train(toy_config(tmp_path_factory.mktemp("straight"), *SETS))


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "last" / "adapter.safetensors"))


def records(run: Path, name: str = "log.jsonl", kind: str | None = "train") -> list[dict]:
    lines = [json.loads(x) for x in (run / name).read_text().splitlines()]
    return [r for r in lines if kind is None or r.get("kind") == kind]


def assert_same_run(got: Path, want: Path) -> None:
    w, g = weights(want), weights(got)
    assert w.keys() == g.keys()
    for k in w:
        torch.testing.assert_close(g[k], w[k], atol=1e-6, rtol=0)
    # no line twice: each step logged once, with the values of the uninterrupted run
    assert [r["step"] for r in records(got)] == [r["step"] for r in records(want)]
    assert [r["loss"] for r in records(got)] == pytest.approx([r["loss"] for r in records(want)], abs=1e-6)
    assert [r["step"] for r in records(got, "eval_history.jsonl", None)] == \
        [r["step"] for r in records(want, "eval_history.jsonl", None)]
    assert json.loads((got / "metrics.json").read_text()) == pytest.approx(
        json.loads((want / "metrics.json").read_text()), abs=1e-6)


def start(root: Path, *sets: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "tools/train.py", str(RECIPE), "--set", f"output.root={root}", *sets],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def logged_steps(run: Path) -> int:
    try:
        return (run / "log.jsonl").read_text().count('"kind": "train"')
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("moment", ["random", "checkpoint_write"])
def test_sigkill_at_a_random_moment_then_resume_matches_uninterrupted(tmp_path, straight, moment):
    seed = random.randrange(2**31)
    rng = random.Random(seed)
    sets = [*SETS, "train.save_every=1"]  # a checkpoint every step: kills land in writes often
    proc = start(tmp_path, *sets)
    run = tmp_path / "toy_recipe"
    target = rng.randint(2, 16)  # of 24 steps
    try:
        while logged_steps(run) < target and proc.poll() is None:
            time.sleep(0.001)
        if moment == "checkpoint_write":
            while not (run / ".last.tmp").exists() and proc.poll() is None:
                pass
        else:
            time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
    finally:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, f"seed {seed}: the run ended before the kill: {err[-2000:]}"
    assert not (run / "metrics.json").exists()
    resumed = train(toy_config(tmp_path, *sets), resume=True)
    assert_same_run(resumed, straight)
    assert not (run / ".last.tmp").exists() and not (run / ".last.old").exists()


def interrupt_at_call(monkeypatch, call: int, signum: int = signal.SIGTERM) -> None:
    """The toy task sends ``signum`` to this process during its ``call``-th training step."""
    original = ToyTask.training_step

    def step(self, model, batch):
        if self.calls + 1 == call:
            os.kill(os.getpid(), signum)
        return original(self, model, batch)

    monkeypatch.setattr(ToyTask, "training_step", step)


def test_sigint_in_the_tool_saves_at_the_current_step_and_exits_cleanly(tmp_path, straight, monkeypatch, capsys):
    sets = [*SETS, "train.save_every=0", "train.save_every_minutes=0"]  # only epoch ends would save
    interrupt_at_call(monkeypatch, 7, signal.SIGINT)
    with pytest.raises(SystemExit) as e:
        run_tool(monkeypatch, "train.py", str(RECIPE), "--set", f"output.root={tmp_path}", *sets)
    monkeypatch.undo()
    assert e.value.code == 130
    assert "SIGINT: saved" in capsys.readouterr().err
    run = tmp_path / "toy_recipe"
    assert load_trainer_state(run / "last")["position"]["global_step"] == 7  # not the epoch end (4)
    assert records(run)[-1]["step"] == 7
    assert_same_run(train(toy_config(tmp_path, *sets), resume=True), straight)


def test_sigterm_then_corrupt_last_falls_back_to_previous_checkpoint(tmp_path, straight, monkeypatch):
    sets = [*SETS, "train.save_every=0", "train.save_every_minutes=0", "train.keep_last=2"]
    interrupt_at_call(monkeypatch, 6)
    with pytest.raises(TrainingInterrupted, match="SIGTERM: saved .*last at step 6"):
        train(toy_config(tmp_path, *sets))
    monkeypatch.undo()
    run = tmp_path / "toy_recipe"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is gone with the run
    assert load_trainer_state(run / "last")["position"]["global_step"] == 6
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000004"]  # the epoch end
    state = run / "last" / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:100])  # a truncated file
    with pytest.warns(UserWarning, match=r"last is unusable .*trying the checkpoint before it"):
        resumed = train(toy_config(tmp_path, *sets), resume=True)
    assert_same_run(resumed, straight)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000020"]  # keep_last=2: one back
    assert (run / "last.unusable" / "trainer_state.pt").stat().st_size == 100  # kept aside, never rotated in


def test_failed_resume_keeps_config_json(tmp_path, monkeypatch):
    sets = [*SETS, "train.keep_last=1"]
    interrupt_at_call(monkeypatch, 3)
    with pytest.raises(TrainingInterrupted):
        train(toy_config(tmp_path, *sets))
    monkeypatch.undo()
    run = tmp_path / "toy_recipe"
    before = (run / "config.json").read_text()
    state = run / "last" / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="no usable checkpoint to resume from"), pytest.warns(UserWarning):
        train(toy_config(tmp_path, *sets, "optim.lr=0.5"), resume=True)
    assert (run / "config.json").read_text() == before


def test_disk_full_while_checkpointing_keeps_the_previous_one(tmp_path, monkeypatch):
    from lava_vision.train import checkpoint

    writes = []
    real = checkpoint.write_synced

    def full_disk(path, data):
        writes.append(path)
        if len(writes) == 2:  # the second checkpoint: half a file, then ENOSPC
            path.write_bytes(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(checkpoint, "write_synced", full_disk)
    with pytest.raises(CheckpointWriteError) as e:
        train(toy_config(tmp_path, *SETS, "train.save_every=2"))
    run = tmp_path / "toy_recipe"
    message = str(e.value)
    assert "\n" not in message and "no space left on the device" in message and "is intact" in message
    assert str(run / "last") in message
    assert isinstance(e.value, CheckpointError)  # tools print it as one line (tools/_common USER_ERRORS)
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []  # no .last.tmp
    assert load_trainer_state(run / "last")["position"]["global_step"] == 2


def test_failed_run_leaves_no_empty_folder_and_does_not_mix_with_the_next(tmp_path):
    run = tmp_path / "toy_recipe"
    with pytest.raises(FileNotFoundError, match="toy dataset folder not found"):  # fails while building
        train(toy_config(tmp_path, *SETS, f"data.root={tmp_path / 'missing'}"))
    assert not run.exists()
    with pytest.raises(Exception, match="step 1: the loss is not finite"):  # fails in its first step
        train(toy_config(tmp_path, *SETS, "loss.poison_step=1"))
    assert not run.exists()
    # trains 2 logged steps, then fails before any checkpoint: the folder stays (its log tells why) ...
    with pytest.raises(Exception, match="step 3: the loss is not finite"):
        train(toy_config(tmp_path, *SETS, "loss.poison_step=3", "train.save_every_minutes=0"))
    assert [r["step"] for r in records(run)] == [1, 2]
    # ... and the next run starts clean instead of appending to it
    with pytest.warns(UserWarning, match="removing .*log.jsonl.* of an earlier run that saved no checkpoint"):
        train(toy_config(tmp_path, *SETS, "train.epochs=1"))
    assert [r["step"] for r in records(run)] == [1, 2, 3, 4]


def test_time_based_saves_and_keep_n_rotation(tmp_path, monkeypatch):
    from lava_vision.train import trainer, trainer_state

    clock = iter(range(0, 10**6, 61))  # every reading of the clock is a minute and a second later
    for module in (trainer, trainer_state):  # the trainer reads the clock, save_last records it
        monkeypatch.setattr(module, "monotonic", lambda: float(next(clock)))
    sets = ["train.epochs=1", "train.save_every=0", "train.save_every_minutes=1", "train.keep_last=3", *SETS[1:]]
    run = train(toy_config(tmp_path, *sets))
    assert load_trainer_state(run / "last")["position"]["global_step"] == 4
    # saved after every step by time; last/ plus the 2 before it are kept
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000002", "step_0000003"]
    assert load_trainer_state(run / "checkpoints" / "step_0000003")["position"]["global_step"] == 3
