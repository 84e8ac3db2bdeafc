"""The trainer on the toy task: exact SGD steps against a float64 reference, run folder contents,
non-finite loss stop, atomic checkpoints (kills and resumes: test_engine_resume.py)."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from toy_task import RECIPE, toy_config  # noqa: E402

from lava_vision.train import NonFiniteLossError, RunConfig, build_run, evaluate, find_adapter_dir, load_trained, train  # noqa: E402
from lava_vision.train.checkpoint import CheckpointError, load_trainer_state, rng_state, save_checkpoint, set_rng_state  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["eval.num_visualize=0", "train.log_every=1"]


def adapter_tensors(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "adapter.safetensors"))


def reference_sgd(cfg: RunConfig, steps: int, lr: float) -> dict[str, torch.Tensor]:
    """Full-batch SGD on mse + lam * sum ||A A^T - I||_F^2, written out densely in float64."""
    from accelerate.utils import set_seed

    set_seed(cfg.train.seed)  # the trainer seeds, then builds: same adapter initialisation
    task, model, _ = build_run(cfg)
    p = {n: t.detach().double().clone() for n, t in model.named_parameters()}
    x = torch.stack([s["x"] for s in task.build_dataset("train")]).double()
    y = torch.stack([s["y"] for s in task.build_dataset("train")]).double()
    lam, scale = cfg.adapter.lam, cfg.adapter.alpha / cfg.adapter.rank
    names = [f"fc{i}.{f}" for i in (1, 2) for f in ("A", "B")]
    for _ in range(steps):
        w = {n: p[n].requires_grad_(n in names) for n in p}
        h = torch.tanh(x @ w["fc1.base_layer.weight"].T + w["fc1.base_layer.bias"]
                       + scale * x @ w["fc1.A"].T @ w["fc1.B"].T)
        out = h @ w["fc2.base_layer.weight"].T + w["fc2.base_layer.bias"] + scale * h @ w["fc2.A"].T @ w["fc2.B"].T
        loss = (out - y).square().mean()
        for layer in ("fc1", "fc2"):
            a = w[f"{layer}.A"]
            loss = loss + lam * (a @ a.T - torch.eye(a.shape[0], dtype=a.dtype)).square().sum()
        grads = torch.autograd.grad(loss, [w[n] for n in names])
        p = {n: (w[n] - lr * grads[names.index(n)] if n in names else w[n]).detach() for n in p}
    return {n: p[n] for n in names}


@pytest.mark.parametrize("batch_size, accum", [(16, 1), (8, 2)])
def test_steps_equal_dense_sgd_reference(tmp_path, batch_size, accum):
    cfg = toy_config(tmp_path, "optim.name=sgd", "optim.momentum=0", "optim.weight_decay=0", "optim.grad_clip=0",
                     "optim.lr=0.5", "schedule.name=constant", "schedule.warmup_steps=0", "adapter.dropout=0",
                     "adapter.lam=0.3", f"train.batch_size={batch_size}", f"train.grad_accum={accum}",
                     "train.max_steps=3", "eval.every=0", *QUIET)
    run = train(cfg)
    got = adapter_tensors(run / "last")
    for name, want in reference_sgd(cfg, steps=3, lr=0.5).items():
        torch.testing.assert_close(got[name].double(), want, atol=1e-6, rtol=0)
    assert got["fc1.B"].abs().sum() > 0  # the steps did move the adapter


def test_run_folder_contents(tmp_path):
    cfg = toy_config(tmp_path, "train.save_every=3", "eval.num_visualize=2", "train.diagnostics=true")
    run = train(cfg)
    assert run == tmp_path / "toy_recipe"
    assert RunConfig.from_dict(json.loads((run / "config.json").read_text())) == cfg
    assert "adapted layers=2" in (run / "plan.txt").read_text()
    logs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train_logs = [r for r in logs if r["kind"] == "train"]
    assert [r["step"] for r in train_logs] == [2, 4, 6, 8]  # 2 epochs x 4 batches of 4, log_every=2
    assert {"loss", "orth_penalty", "lr", "samples_per_s"} <= set(train_logs[0])
    # the lr each logged step used: step 2 ends the warmup ((1 + 1) / 2), step 4 has cosine p = (3 - 2) / 6
    assert train_logs[0]["lr"] == pytest.approx(0.05)
    assert train_logs[1]["lr"] == pytest.approx(0.05 * (1 + math.cos(math.pi / 6)) / 2)
    diag = [r for r in logs if r["kind"] == "diag"]
    assert [r["step"] for r in diag] == [2, 4, 6, 8] and {"grad_var/fc1", "orth_error_max"} <= set(diag[0])
    assert list((run / "tb" / "lava-vision").glob("events.out.tfevents.*"))  # Accelerate's TensorBoard tracker
    history = [json.loads(line) for line in (run / "eval_history.jsonl").read_text().splitlines()]
    assert [(h["step"], h["final"]) for h in history] == [(4, False), (8, True)]
    assert len(list((run / "pictures" / "step_0000008").glob("*.png"))) == 2
    state = torch.load(run / "last" / "trainer_state.pt", weights_only=True)
    assert state["position"]["global_step"] == 8 and len(state["rng"]) == 1
    # best/ holds the lower mae of the two evaluations; metrics.json the final one, reproducible
    best = json.loads((run / "best" / "adapter_config.json").read_text())["metadata"]
    assert best["metrics"]["mae"] == min(h["mae"] for h in history)
    assert find_adapter_dir(run) == run / "best"
    task, model = load_trained(cfg, run / "last")
    final = json.loads((run / "metrics.json").read_text())
    assert evaluate(task, model, "val", batch_size=1) == {"mae": final["mae"], "sign_acc": final["sign_acc"]}
    with pytest.raises(FileExistsError, match="pass --resume"):
        train(cfg)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    # bf16 after the fp32 runs above: a second precision in one process must work (Accelerate state reset)
    cfg = toy_config(tmp_path, "loss.poison_step=3", "train.save_every=2", "train.precision=bf16", *QUIET)
    with pytest.raises(NonFiniteLossError, match="step 3: the loss is not finite"):
        train(cfg)
    last = tmp_path / "toy_recipe" / "last"
    assert load_trainer_state(last)["position"]["global_step"] == 2
    assert all(torch.isfinite(t).all() for t in adapter_tensors(last).values())


def test_checkpoint_swap_is_atomic(tmp_path, monkeypatch):
    cfg = toy_config(tmp_path)
    _, model, _ = build_run(cfg)
    save_checkpoint(tmp_path, "last", model, {"n": 1}, {"x": torch.ones(2)})
    before = (tmp_path / "last" / "adapter.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    with torch.no_grad():
        model.fc1.B.add_(1.0)
    monkeypatch.setattr("lava_vision.train.checkpoint.torch.save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, "last", model, {"n": 2}, {"x": torch.zeros(2)})
    assert (tmp_path / "last" / "adapter.safetensors").read_bytes() == before
    assert load_trainer_state(tmp_path / "last")["x"].tolist() == [1.0, 1.0]
    monkeypatch.undo()
    # a kill between the two renames leaves only .last.old: finding the adapter puts it back
    os.rename(tmp_path / "last", tmp_path / ".last.old")
    assert find_adapter_dir(tmp_path) == tmp_path / "last"
    save_checkpoint(tmp_path, "last", model, {"n": 3}, {"x": torch.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]  # the crashed save's temp folder is gone
    with pytest.raises(CheckpointError, match="no such adapter or run folder"):
        find_adapter_dir(tmp_path / "nope")


def test_rng_state_round_trips_through_weights_only_file(tmp_path):
    import random

    torch.save(rng_state(), tmp_path / "rng.pt")
    want = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]


def test_tools_fail_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "tools/eval.py", str(RECIPE), "--adapter", str(tmp_path / "missing")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing'}: no such adapter or run folder"]


def test_eval_every_steps_and_pictures_in_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = toy_config(tmp_path, "eval.every=0", "eval.every_steps=3", "eval.num_visualize=1", "train.max_steps=7")
    run = train(cfg)
    history = [json.loads(line) for line in (run / "eval_history.jsonl").read_text().splitlines()]
    assert [(h["step"], h["final"]) for h in history] == [(3, False), (6, False), (7, True)]
    events = EventAccumulator(str(run / "tb" / "lava-vision"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()["images"]
    assert len(tags) == 1 and tags[0].startswith("pictures/")
    assert [e.step for e in events.Images(tags[0])] == [3, 6, 7]
