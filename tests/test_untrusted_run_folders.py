"""A run folder someone hands you is checked before the tools act on it (issues 24, 28): a malformed
``trainer_state.pt``, ``config.json``, ``metrics.json``, ``eval_*.json`` or log line gives only the
library's own error naming the file and key, and nothing is written or cut, outside the run folder
above all (a sentinel file beside it is compared byte for byte). Property-based: hypothesis mutates
what a real finished toy run wrote (see fuzz_files.mutate), tensors included, plus the hand-picked
cases of the issues. Adapter files: test_untrusted_adapter_files.py; zoo files:
test_untrusted_zoo_files.py."""
from __future__ import annotations

import copy
import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from fuzz_files import BOMB_DEPTHS, FUZZ, JSON, assert_depth_bomb_refused, deep, json_paths, mutate, tree
from lava_vision.analysis.compare import summarize_run
from lava_vision.json_types import JsonFileError
from lava_vision.jsonl import read_jsonl
from lava_vision.train import RecipeError, train
from lava_vision.train.checkpoint import CheckpointError
from lava_vision.train.resume import config_document, read_saved_config, resume_changes
from lava_vision.train.run_files import read_eval_report, read_run_metrics
from lava_vision.train.run_folder import read_run_config
from lava_vision.train.trainer import Trainer
from lava_vision.zoo import ZooError

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import RECIPE, toy_config  # noqa: E402

# 16 samples in batches of 4: 4 batches = 4 optimiser steps per epoch, 8 steps; only last/ is kept
RUN_SETS = ["train.epochs=2", "train.keep_last=1", "eval.num_visualize=0", "train.log_every=1"]
LOGS = ("log.jsonl", "eval_history.jsonl")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, dict[str, bytes], dict]:
    """A finished toy run: its folder, every file's bytes, and its trainer state."""
    root = tmp_path_factory.mktemp("runs")
    run = train(toy_config(root, *RUN_SETS))
    return run, tree(run), torch.load(run / "last" / "trainer_state.pt", weights_only=True)


def copy_run(finished_run, tmp_path: Path) -> Path:
    """A copy of the finished run under ``tmp_path`` (toy_config's output.root), and a sentinel file beside it."""
    run = tmp_path / finished_run[0].name
    shutil.copytree(finished_run[0], run)
    doc = json.loads((run / "config.json").read_text())
    doc["output"]["root"] = str(tmp_path)  # output.root cannot change on --resume
    (run / "config.json").write_text(json.dumps(doc, indent=2) + "\n")
    (tmp_path / "outside.txt").write_text("not the run's\n" * 50)
    return run


def outside(tmp_path: Path, run: Path) -> dict[str, bytes]:
    """Every file under ``tmp_path`` that is not in the run folder."""
    return {k: v for k, v in tree(tmp_path).items() if not k.startswith(run.name + "/")}


def tampered(state: dict, **changes) -> dict:
    """A deep copy of ``state`` with dotted keys replaced (``position__global_step`` = position.global_step)."""
    state = copy.deepcopy(state)

    def index(target, k: str):  # list positions and the optimiser state's parameter ids are ints
        return int(k) if k.isdigit() and (isinstance(target, list) or any(isinstance(x, int) for x in target)) else k

    for key, value in changes.items():
        *parents, last = key.split("__")
        target = state
        for k in parents:
            target = target[index(target, k)]
        target[index(target, last)] = value
    return state


@pytest.mark.parametrize("name", ["../outside.txt", "ABSOLUTE", "config.json", "log.jsonl (a symlink to outside.txt)"])
def test_resume_never_cuts_a_file_outside_the_run_folder(finished_run, tmp_path, name):
    """log_sizes may name only the run's own log files, as regular files inside the folder; on main a
    relative or absolute path there was truncated to the recorded size and the resume exited 0."""
    run = copy_run(finished_run, tmp_path)
    if name == "ABSOLUTE":
        name = str(tmp_path / "outside.txt")
    if name.endswith("(a symlink to outside.txt)"):
        name = "log.jsonl"
        (run / name).unlink()
        (run / name).symlink_to(tmp_path / "outside.txt")
    state = tampered(finished_run[2], log_sizes={name: 3})
    torch.save(state, run / "last" / "trainer_state.pt")
    before, inside = outside(tmp_path, run), tree(run)
    with pytest.raises(CheckpointError) as e, pytest.warns(UserWarning, match="unusable"):
        train(toy_config(tmp_path, *RUN_SETS), resume=True)
    assert str(run / "last" / "trainer_state.pt") in str(e.value) or str(run / name) in str(e.value), str(e.value)
    assert outside(tmp_path, run) == before
    assert tree(run) == inside  # nothing in the run folder was written either


BAD_STATES = [  # (changes, the key the error names); global_step 1e9 / -3 were accepted on main
    ({"position__global_step": 1e9}, "position.global_step"),
    ({"position__global_step": -3}, "position.global_step"),
    ({"position__global_step": 10**9}, "position.global_step"),  # an int, but not 1 epoch + 4 batches
    ({"position__global_step": 7}, "position.global_step"),  # inconsistent with epoch 1, batch 4
    ({"position__epoch": "1"}, "position.epoch"),
    ({"position__batch": 5}, "position.batch"),  # 4 batches per epoch
    ({"world_size": 0}, "world_size"),
    ({"world_size": 2}, "position.batch"),  # at 2 processes an epoch has 2 batches, not 4
    ({"best": "0.5"}, "best"),
    ({"scheduler__last_epoch": 9}, "scheduler.last_epoch"),
    ({"scaler": {"scale": 1.0}}, "scaler"),
    ({"rng": "junk"}, "rng"),
    ({"rng__0__torch": torch.zeros(3, dtype=torch.uint8)}, "rng[0].torch"),
    ({"rng__0__python__internal": torch.full((625,), 2**40)}, "rng[0].python.internal"),
    ({"rng__0__numpy__pos": 700}, "rng[0].numpy.pos"),
    ({"optimizer__state__0__exp_avg": torch.zeros(3, 3)}, "optimizer.state[0].exp_avg"),
    ({"optimizer__state__0__exp_avg_sq": "x"}, "optimizer.state[0].exp_avg_sq"),
    ({"optimizer__state__9": {}}, "optimizer.state[9]"),
    ({"optimizer__param_groups": []}, "optimizer.param_groups"),
    # torch's load_state_dict tests these with `if` (an empty tensor there was a RuntimeError; hypothesis)
    ({"optimizer__param_groups__0__capturable": torch.zeros(0)}, "optimizer.param_groups[0].capturable"),
    ({"optimizer__param_groups__0__lr": torch.ones(2)}, "optimizer.param_groups[0].lr"),
    ({"log_sizes": [1, 2]}, "log_sizes"),
    ({"log_sizes__log.jsonl": -1}, "log_sizes['log.jsonl']"),
    ({"log_sizes__log.jsonl": True}, "log_sizes['log.jsonl']"),
    ({"log_sizes__log.jsonl": 10**9}, "log_sizes['log.jsonl']"),  # larger than the file
]


MISSING_POSITION = ("position", "trainer state: missing key 'position'")


@pytest.mark.parametrize("changes, key", [*BAD_STATES, (None, "trainer state"), MISSING_POSITION],
                         ids=lambda x: str(x)[:40])
def test_malformed_trainer_state_names_the_file_and_key_and_writes_nothing(finished_run, tmp_path, changes, key):
    run = copy_run(finished_run, tmp_path)
    if changes is None:
        state = [finished_run[2]]  # not a dict
    elif changes == "position":
        state = copy.deepcopy(finished_run[2])
        del state["position"]
    else:
        state = tampered(finished_run[2], **changes)
    torch.save(state, run / "last" / "trainer_state.pt")
    before = tree(tmp_path)
    with pytest.raises(CheckpointError) as e, pytest.warns(UserWarning, match="unusable"):
        train(toy_config(tmp_path, *RUN_SETS), resume=True)
    assert f"{run / 'last' / 'trainer_state.pt'}: {key}" in str(e.value), str(e.value)
    assert tree(tmp_path) == before


def test_a_state_saved_at_another_world_size_is_checked_against_that_schedule(finished_run, tmp_path):
    """At 2 processes each takes 8 of the 16 samples: 2 batches, 2 steps per epoch (the sampler's
    ceil(ceil(16 / 2) / 4)); epoch 3, batch 2 is then step 8, and resuming warns about the RNG streams."""
    run = copy_run(finished_run, tmp_path)
    rng = finished_run[2]["rng"]
    state = tampered(finished_run[2], world_size=2, rng=[rng[0], copy.deepcopy(rng[0])],
                     position={"epoch": 3, "batch": 2, "global_step": 8})
    torch.save(state, run / "last" / "trainer_state.pt")
    with pytest.warns(UserWarning, match="saved with 2: random streams restart"):
        trainer = Trainer(toy_config(tmp_path, *RUN_SETS), resume=True)
    assert (trainer.epoch, trainer.batch, trainer.step) == (3, 2, 8)


def json_or_tensor(data) -> object:
    return data.draw(JSON | st.builds(lambda n, d: torch.zeros(n, dtype=d), st.integers(0, 4),
                                      st.sampled_from([torch.uint8, torch.int64, torch.float32])))


@pytest.fixture(scope="module")
def resumable(finished_run, tmp_path_factory) -> tuple[Trainer, Path, Path]:
    """A trainer resumed in a copy of the finished run, with a sentinel file beside the run folder."""
    root = tmp_path_factory.mktemp("fuzzroot")
    run = copy_run(finished_run, root)
    return Trainer(toy_config(root, *RUN_SETS), resume=True), run, root


@FUZZ
@given(data=st.data())
def test_fuzzed_trainer_state_gives_only_checkpoint_errors_and_writes_nothing_outside(finished_run, resumable, data):
    trainer, run, root = resumable
    for name in LOGS:  # as saved (an accepted state may have cut them back)
        (run / name).write_bytes(finished_run[1][name])
    state = mutate(finished_run[2], data) if data.draw(st.booleans()) else copy.deepcopy(finished_run[2])
    if isinstance(state, dict) and data.draw(st.booleans()):  # a name (a path, another file) and a size
        sizes = state.setdefault("log_sizes", {})
        if isinstance(sizes, dict):
            sizes[data.draw(st.sampled_from([*LOGS, "../outside.txt", str(root / "outside.txt"), "config.json",
                                             "last/adapter.safetensors", "", "."]))] = json_or_tensor(data)
    elif isinstance(state, dict) and data.draw(st.booleans()):
        path = data.draw(st.sampled_from(json_paths(state)))
        if path:
            parent = state
            for k in path[:-1]:
                parent = parent[k]
            parent[path[-1]] = json_or_tensor(data)
    torch.save(state, run / "last" / "trainer_state.pt")
    before = outside(root, run)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer._resume()
    except CheckpointError as e:
        assert str(run / "last" / "trainer_state.pt") in str(e), str(e)
        assert all((run / n).read_bytes() == finished_run[1][n] for n in LOGS)  # nothing cut before the checks
    assert outside(root, run) == before


# ---- run folders: config.json, metrics.json, eval reports ----------------------------------------
def test_resumed_records_of_another_shape_are_refused_naming_the_key(finished_run, tmp_path):
    """config.json "resumed": 5 was a TypeError traceback on --resume on main."""
    run = copy_run(finished_run, tmp_path)
    doc = json.loads((run / "config.json").read_text())
    for bad, key in [(5, "resumed"), ([{"step": -1, "changed": {}}], "resumed[0].step"),
                     ([{"step": 2, "changed": {"optim.lr": [1]}}], "resumed[0].changed['optim.lr']")]:
        (run / "config.json").write_text(json.dumps({**doc, "resumed": bad}))
        before = tree(tmp_path)
        with pytest.raises(CheckpointError) as e:
            train(toy_config(tmp_path, *RUN_SETS), resume=True)
        assert f"{run / 'config.json'}: {key}" in str(e.value), str(e.value)
        assert tree(tmp_path) == before


def test_a_list_as_metrics_json_is_a_one_line_error_in_compare(finished_run, tmp_path, monkeypatch, capsys):
    """On main, tools/compare.py on a run whose metrics.json is a list ended in an AttributeError traceback."""
    run = copy_run(finished_run, tmp_path)
    (run / "metrics.json").write_text("[1, 2]")
    with pytest.raises(SystemExit) as e:
        run_tool(monkeypatch, "compare.py", str(run), "--out", str(tmp_path / "cmp"))
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"{run / 'metrics.json'}: not a run's final metrics" in err, err
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("task", ["", "no_such_task"])
def test_an_unknown_task_in_a_run_config_names_the_file(finished_run, tmp_path, task):
    """Found by the fuzzer: task '' was a bare KeyError from tools/eval.py and tools/predict.py."""
    run = copy_run(finished_run, tmp_path)
    doc = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**doc, "task": task}))
    for folder in (run, run / "best"):
        with pytest.raises(RecipeError, match=re.escape(f"{run / 'config.json'}: unknown task {task!r}")):
            read_run_config(folder)


@pytest.mark.parametrize("line, says", [("[1]", "not a log record"), ('{"kind": "train", "step_time_s": "fast"}',
                                                                        "step_time_s='fast'"),
                                        ('{"kind": "train", "peak_mem_mb": [1]}', "peak_mem_mb=[1]")])
def test_a_malformed_log_line_names_file_and_line_in_compare(finished_run, tmp_path, line, says):
    """On main: an AttributeError / TypeError traceback from tools/compare.py."""
    run = copy_run(finished_run, tmp_path)
    with open(run / "log.jsonl", "a") as f:
        f.write(line + "\n")
    lineno = (run / "log.jsonl").read_text().count("\n")
    with pytest.raises(JsonFileError, match=re.escape(f"{run / 'log.jsonl'}:{lineno}: {says}")):
        summarize_run(run)


@FUZZ
@given(data=st.data())
def test_fuzzed_run_config_gives_only_clear_errors(finished_run, resumable, data):
    """What --resume, tools/eval.py (read_run_config) and tools/compare.py read of a run's config.json."""
    trainer, run, root = resumable
    good = json.loads(finished_run[1]["config.json"])
    (run / "config.json").write_text(json.dumps(mutate(good, data)))
    (run / "metrics.json").write_bytes(finished_run[1]["metrics.json"])  # a resume deletes it
    before = outside(root, run)
    try:
        saved = read_saved_config(run)
        config_document(trainer.cfg, saved, resume_changes(trainer.cfg, saved, run), 8)
    except (CheckpointError, RecipeError) as e:
        assert "config.json" in str(e), str(e)
    for call in (lambda: read_run_config(run), lambda: summarize_run(run)):
        try:
            call()
        except (JsonFileError, RecipeError, KeyError) as e:  # KeyError: an unknown task, named with the file
            assert "config.json" in str(e), str(e)
    assert outside(root, run) == before


@FUZZ
@given(data=st.data())
def test_fuzzed_run_metrics_and_eval_report_give_only_clear_errors(finished_run, tmp_path_factory, data):
    from lava_vision.zoo.publish import run_evaluation

    run = finished_run[0]
    folder = tmp_path_factory.mktemp("metrics")
    metrics = json.loads(finished_run[1]["metrics.json"])
    report = {"task": "toy", "split": "test", "max_samples": 0, "adapter": str(run / "best"), "checkpoint": "best",
              "selection": {"kind": "best", "split": "val"}, "after": {"mae": 0.5, "sign_acc": 0.7}}
    for name, good, reader in [("metrics.json", metrics, read_run_metrics), ("eval_test.json", report,
                                                                             read_eval_report)]:
        (folder / name).write_text(json.dumps(mutate(good, data)))
        try:
            reader(folder / name)
        except JsonFileError as e:
            assert str(folder / name) in str(e), str(e)
    shutil.copy(run / "config.json", folder / "config.json")
    shutil.copytree(run / "best", folder / "best", dirs_exist_ok=True)
    shutil.copytree(run / "last", folder / "last", dirs_exist_ok=True)
    shutil.copy(run / "log.jsonl", folder / "log.jsonl")
    for call in (lambda: summarize_run(folder), lambda: summarize_run(folder, "test"),
                 lambda: run_evaluation(folder, folder / "last", read_run_config(run)),
                 lambda: run_evaluation(folder, folder / "best", read_run_config(run), "test")):
        try:
            call()
        except (JsonFileError, ZooError, FileNotFoundError) as e:
            assert "metrics.json" in str(e) or "eval_test.json" in str(e) or "no evaluation" in str(e), str(e)
        except ValueError as e:  # summarize_run's own refusals of a report (no adapter score, chosen on it)
            assert "eval_test.json" in str(e) or "optimistic" in str(e), str(e)


@pytest.mark.parametrize("depth", BOMB_DEPTHS)
@pytest.mark.parametrize("reader", ["run config.json (--resume)", "run config.json (eval)",
                                    "run config.json (compare)", "run metrics.json", "eval_test.json",
                                    "log.jsonl", "run metrics.json (train tool)"])
def test_a_depth_bomb_is_a_clear_error_naming_the_file_in_every_run_folder_reader(
        finished_run, tmp_path, monkeypatch, capsys, reader, depth):
    run = copy_run(finished_run, tmp_path)
    name = reader.split()[1] if reader.startswith("run ") else reader
    (run / name).write_text(deep(depth))
    path, errors = run / name, JsonFileError
    if reader == "run config.json (--resume)":
        calls, errors = [lambda: train(toy_config(tmp_path, *RUN_SETS), resume=True)], CheckpointError
    elif reader == "run config.json (eval)":
        calls = [lambda: read_run_config(run), lambda: read_run_config(run / "best")]
    elif reader == "run config.json (compare)":
        calls = [lambda: summarize_run(run)]
    elif reader == "run metrics.json":
        calls = [lambda: summarize_run(run), lambda: read_run_metrics(run / name)]
    elif reader == "eval_test.json":
        calls = [lambda: summarize_run(run, "test"), lambda: read_eval_report(run / name)]
    elif reader == "log.jsonl":
        calls, path = [lambda: read_jsonl(run / name)], f"{run / name}:1"
    else:  # tools/train.py prints the finished run's metrics.json
        import lava_vision.train

        monkeypatch.setattr(lava_vision.train, "train", lambda cfg, resume=False: run)
        calls, errors = [lambda: run_tool(monkeypatch, "train.py", str(RECIPE))], SystemExit
    assert_depth_bomb_refused(calls, errors, path, capsys)
