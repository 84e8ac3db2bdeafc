"""Files read from elsewhere are validated by type and range before use (issue 24): a malformed
``adapter_config.json``, zoo ``index.json`` record or zoo entry ``config.json`` gives only the
library's own error (AdapterFileError / ZooError) naming the file and key, and leaves the model
and the zoo as they were. Property-based: hypothesis mutates valid documents (a value replaced by
any JSON value, NaN and infinities included, or a key deleted), plus the hand-picked cases of the
issue. The references are the valid documents the library itself writes and hand-made models."""
from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from lava_vision import zoo
from lava_vision.adapters import AdapterConfig, AdapterFileError, AdapterLayer, inject, load_adapter, save_adapter
from lava_vision.zoo import ZooError
from lava_vision.zoo.index import get_entry
from lava_vision.zoo.load import entry_config

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**40) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6) | st.sampled_from(["../outside", "x:Y", "os:path", "lava", "Conv2d", "a" * 64]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


def json_paths(doc, prefix=()) -> list[tuple]:
    """Every path into a JSON document (the root included)."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += json_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += json_paths(v, (*prefix, i))
    return out


def mutate(doc, data) -> object:
    """1-3 mutations of a copy of ``doc``: a value replaced by any JSON value, or a key deleted."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(json_paths(doc)))
        if not path:
            return data.draw(JSON)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)
    return doc


# ---- adapter_config.json -----------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.fc(self.conv(x).relu().mean((2, 3))))


CFG = AdapterConfig(rank=2, targets=["conv", "fc"], modules_to_save=["head"])


def base_net() -> Net:
    torch.manual_seed(0)
    return Net()


@pytest.fixture(scope="module")
def adapter_folder(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("adapter")
    model = base_net()
    inject(model, CFG)
    save_adapter(model, folder, {"task": "toy", "step": 3, "metrics": {"acc": 0.5},
                                 "selection": {"kind": "last", "split": None, "metric": None, "mode": None,
                                               "value": None, "step": 3}})
    return folder, json.loads((folder / "adapter_config.json").read_text())


def assert_untouched(model: Net) -> None:
    """Still the plain base: no adapter layer, no injection state, the base weights and flags."""
    ref = base_net()
    assert not any(isinstance(m, AdapterLayer) for m in model.modules())
    assert not hasattr(model, "_lava_state") and not [n for n in vars(model) if "lava" in n.lower()]
    assert model.state_dict().keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert all(p.requires_grad for p in model.parameters())


def try_load(folder: Path, doc: object) -> None:
    (folder / "adapter_config.json").write_text(json.dumps(doc))
    model = base_net()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a changed base_sha256 is a warning by design
            load_adapter(model, folder)
    except AdapterFileError as e:
        assert str(folder) in str(e), str(e)
        assert_untouched(model)


def test_the_valid_document_loads(adapter_folder):
    folder, doc = adapter_folder
    model = base_net()
    (folder / "adapter_config.json").write_text(json.dumps(doc))
    load_adapter(model, folder)
    assert sum(isinstance(m, AdapterLayer) for m in model.modules()) == 2


@FUZZ
@given(data=st.data())
def test_fuzzed_adapter_config_gives_only_adapter_file_errors(adapter_folder, data):
    folder, doc = adapter_folder
    try_load(folder, mutate(doc, data))


@pytest.mark.parametrize("path, value, key", [
    (("adapter_config", "method"), 5, "adapter_config.method"),
    (("adapter_config", "targets"), "conv", "adapter_config.targets"),
    (("adapter_config", "targets"), [1, 2], "adapter_config.targets[0]"),
    (("adapter_config", "overrides"), ["conv"], "adapter_config.overrides"),
    (("adapter_config", "overrides"), {"conv": 3}, "adapter_config.overrides['conv']"),
    (("adapter_config", "fused"), {"fc": 7}, "adapter_config.fused['fc']"),
    (("adapter_config", "factor_lr"), {"U": "fast"}, "adapter_config.factor_lr['U']"),
    (("adapter_config", "dropout"), "0.1", "adapter_config.dropout"),
    (("adapter_config", "rank"), [2], "adapter_config.rank"),
    (("adapter_config",), [], "adapter_config"),
    (("fingerprint", "base_sha256"), 5, "fingerprint.base_sha256"),
    (("fingerprint", "adapted"), ["conv"], "fingerprint.adapted"),
    (("fingerprint", "adapted", "conv"), "Conv2d", "fingerprint.adapted['conv']"),
    (("fingerprint", "saved"), {"head.weight": "2x4"}, "fingerprint.saved['head.weight']"),
    (("fingerprint", "model_class"), ["Net"], "fingerprint.model_class"),
    (("fingerprint",), "Net", "fingerprint"),
    (("metadata",), [1], "metadata"),
    (("metadata", "task"), 3, "metadata.task"),
    (("metadata", "selection"), "best", "metadata.selection"),
    (("trainable_params",), -1, "trainable_params"),
])
def test_wrongly_typed_adapter_config_names_file_and_key(adapter_folder, path, value, key):
    folder, doc = adapter_folder
    doc = copy.deepcopy(doc)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    (folder / "adapter_config.json").write_text(json.dumps(doc))
    model = base_net()
    with pytest.raises(AdapterFileError) as e:
        load_adapter(model, folder)
    assert str(folder / "adapter_config.json") in str(e.value) and key in str(e.value), str(e.value)
    assert_untouched(model)


# ---- zoo index.json ----------------------------------------------------------------------------
def hand_made_zoo(root: Path, name: str = "demo") -> dict:
    """An entry whose files match its record (index checks never load a model)."""
    (root / name).mkdir(parents=True)
    files = {"adapter.safetensors": b"\x00weights" * 5, "README.md": b"# demo\n"}
    for fname, data in files.items():
        (root / name / fname).write_bytes(data)
    record = {"task": "classification", "base_model_id": "b", "base_model_revision": "weights-sha256:00",
              "adapter_method": "lava", "rank": 4, "split": "val", "metrics": {"top1": 0.5}, "main_metric": "top1",
              "files": {f: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for f, d in files.items()}}
    doc = {"format": "lava-vision-zoo", "format_version": 1, "entries": {name: record}}
    (root / "index.json").write_text(json.dumps(doc))
    return doc


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def index_zoo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("zoo") / "zoo"
    doc = hand_made_zoo(root)
    # an "outside" folder beside the zoo with the same files: an entry named ../outside would verify
    shutil.copytree(root / "demo", root.parent / "outside")
    return root, doc


@FUZZ
@given(data=st.data())
def test_fuzzed_index_gives_only_zoo_errors_and_leaves_the_zoo(index_zoo, data):
    root, doc = index_zoo
    bad = mutate(doc, data)
    if isinstance(bad, dict) and isinstance(bad.get("entries"), dict) and data.draw(st.booleans()):
        entries = bad["entries"]
        entries[data.draw(st.sampled_from(["../outside", "..", "/abs", "A", "x/y", ""]))] = \
            entries.pop("demo", doc["entries"]["demo"])
    (root / "index.json").write_text(json.dumps(bad))
    before = tree(root.parent)
    for call in (lambda: zoo.list(root), lambda: zoo.verify(root=root), lambda: zoo.format_table(zoo.list(root))):
        try:
            call()
        except ZooError as e:
            assert "index.json" in str(e) or "zoo entry" in str(e), str(e)
    try:
        entries = zoo.read_index(root)["entries"]
    except ZooError:
        entries = {}
    for name in entries:  # whatever the index lets through stays inside the root
        assert (root / name).resolve().parent == root.resolve()
        get_entry(name, root)
    assert tree(root.parent) == before


@pytest.mark.parametrize("name", ["../outside", "..", "Demo", "a/b", "/tmp/x"])
def test_entry_names_in_the_index_follow_the_publish_rule(index_zoo, name):
    root, doc = index_zoo
    bad = copy.deepcopy(doc)
    bad["entries"][name] = bad["entries"].pop("demo")
    (root / "index.json").write_text(json.dumps(bad))
    for call in (lambda: zoo.verify(root=root), lambda: zoo.list(root), lambda: zoo.load(name, root)):
        with pytest.raises(ZooError, match=rf"index.json: entry name {json.dumps(name)[1:-1]!r} refused"):
            call()


@pytest.mark.parametrize("key, value", [("task", None), ("task", 3), ("metrics", [1]), ("rank", "4"),
                                        ("files", ["adapter.safetensors"]), ("base_model_id", {"a": 1})])
def test_malformed_index_records_name_the_entry_and_key(index_zoo, key, value):
    root, doc = index_zoo
    bad = copy.deepcopy(doc)
    if value is None:
        del bad["entries"]["demo"][key]
    else:
        bad["entries"]["demo"][key] = value
    (root / "index.json").write_text(json.dumps(bad))
    with pytest.raises(ZooError, match=rf"entry 'demo'.*{key}"):
        zoo.list(root)


# ---- zoo entry config.json ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def config_zoo(tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the shipped quickstart entry."""
    root = tmp_path_factory.mktemp("czoo") / "zoo"
    shutil.copytree(ROOT / "zoo" / "quickstart", root / "quickstart")
    index = json.loads((ROOT / "zoo" / "index.json").read_text())
    index["entries"] = {"quickstart": index["entries"]["quickstart"]}
    (root / "index.json").write_text(json.dumps(index))
    return root, index


def install_config(root: Path, index: dict, config: object) -> None:
    """Write ``config`` as the entry's config.json and record its true sha256 (a consistent entry)."""
    data = json.dumps(config).encode()
    (root / "quickstart" / "config.json").write_bytes(data)
    index = copy.deepcopy(index)
    index["entries"]["quickstart"]["files"]["config.json"] = {"sha256": hashlib.sha256(data).hexdigest(),
                                                               "size": len(data)}
    (root / "index.json").write_text(json.dumps(index))


@FUZZ
@given(data=st.data())
def test_fuzzed_entry_config_gives_only_zoo_errors(config_zoo, data):
    root, index = config_zoo
    good = json.loads((ROOT / "zoo" / "quickstart" / "config.json").read_text())
    install_config(root, index, mutate(good, data))
    try:
        cfg = entry_config("quickstart", root)
    except ZooError as e:
        assert "config.json" in str(e), str(e)
    else:
        assert cfg.task == "classification"


@pytest.mark.parametrize("path, value, key", [
    (("train", "max_steps"), "10", "train.max_steps"), (("optim", "lr"), [1], "optim.lr"),
    (("optim", "betas"), [0.9], "optim"), (("adapter", "rank"), "4", "adapter.rank"),
    (("model",), [], "model"), (("train", "epochs"), -1, "train.epochs"), (("optim", "lr"), -1.0, "optim.lr"),
    (("task",), 7, "task"), (("task",), "no_such_task", "unknown task"), (("data", "batch_size"), 1.5, "data"),
    # issue 28: passed entry validation on main (1e9), a plain ValueError from the model builder (a path)
    (("data", "image_size"), 1e9, "data.image_size"), (("model", "name"), "../../etc", "model.name"),
    (("model", "input_size"), 0, "model.input_size"), (("model", "name"), "/abs/net", "model.name"),
])
def test_malformed_entry_config_names_the_file_and_key(config_zoo, path, value, key):
    root, index = config_zoo
    good = json.loads((ROOT / "zoo" / "quickstart" / "config.json").read_text())
    parent = good
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    install_config(root, index, good)
    with pytest.raises(ZooError) as e:
        zoo.load("quickstart", root)
    assert "config.json" in str(e.value) and key in str(e.value), str(e.value)


def test_a_zoo_entry_metrics_json_that_is_not_json_names_the_file(config_zoo, tmp_path):
    """On main: "Expecting value: line 1 column 1 (char 0)", no file named (a bare JSONDecodeError)."""
    root = tmp_path / "zoo"
    shutil.copytree(ROOT / "zoo" / "quickstart", root / "quickstart")
    index = copy.deepcopy(config_zoo[1])
    for data in (b"not json", b"[1, 2]", b'{"metrics": {"top1": "high"}}'):
        (root / "quickstart" / "metrics.json").write_bytes(data)
        index["entries"]["quickstart"]["files"]["metrics.json"] = {"sha256": hashlib.sha256(data).hexdigest(),
                                                                    "size": len(data)}
        (root / "index.json").write_text(json.dumps(index))
        with pytest.raises(ZooError, match=re.escape(str(root / "quickstart" / "metrics.json"))):
            zoo.load("quickstart", root)


# ---- run folders: trainer_state.pt (issue 28) ----------------------------------------------------
sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import RECIPE, toy_config  # noqa: E402

from lava_vision.analysis.compare import summarize_run  # noqa: E402
from lava_vision.json_types import JsonFileError  # noqa: E402
from lava_vision.jsonl import read_jsonl  # noqa: E402
from lava_vision.train import RecipeError, train  # noqa: E402
from lava_vision.train.checkpoint import CheckpointError  # noqa: E402
from lava_vision.train.resume import config_document, read_saved_config, resume_changes  # noqa: E402
from lava_vision.train.run_files import read_eval_report, read_run_metrics  # noqa: E402
from lava_vision.train.run_folder import read_run_config  # noqa: E402
from lava_vision.train.trainer import Trainer  # noqa: E402

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
                 lambda: run_evaluation(folder, folder / "last", trainer_cfg(run)),
                 lambda: run_evaluation(folder, folder / "best", trainer_cfg(run), "test")):
        try:
            call()
        except (JsonFileError, ZooError, FileNotFoundError) as e:
            assert "metrics.json" in str(e) or "eval_test.json" in str(e) or "no evaluation" in str(e), str(e)
        except ValueError as e:  # summarize_run's own refusals of a report (no adapter score, chosen on it)
            assert "eval_test.json" in str(e) or "optimistic" in str(e), str(e)


def trainer_cfg(run: Path):
    return read_run_config(run)


# ---- every JSON reader: depth bombs ---------------------------------------------------------------
def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


class OneRepoApi:
    """snapshot_download of a repo holding only ``zoo_entry.json`` (the hub's reader, no network)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def snapshot_download(self, repo_id, repo_type, revision, local_dir):
        Path(local_dir).mkdir(parents=True)
        (Path(local_dir) / "zoo_entry.json").write_text(self.text)
        return local_dir


@pytest.mark.parametrize("depth", [100_000, 900])  # 900: parses, then bombs recursive code that walks it
@pytest.mark.parametrize("reader", ["adapter_config.json", "index.json", "entry config.json", "entry metrics.json",
                                    "zoo_entry.json", "run config.json (--resume)", "run config.json (eval)",
                                    "run config.json (compare)", "run metrics.json", "eval_test.json",
                                    "log.jsonl", "run metrics.json (train tool)"])
def test_a_depth_bomb_is_a_clear_error_naming_the_file_in_every_json_reader(
        adapter_folder, index_zoo, config_zoo, finished_run, tmp_path, monkeypatch, capsys, reader, depth):
    """On main each was a raw RecursionError (100,000 deep)."""
    from lava_vision.zoo.hub import pull

    bomb = deep(depth)
    if reader == "adapter_config.json":
        folder = tmp_path / "adapter"
        shutil.copytree(adapter_folder[0], folder)
        (folder / reader).write_text(bomb)
        calls, errors, path = [lambda: load_adapter(base_net(), folder)], AdapterFileError, folder / reader
    elif reader == "index.json":
        root = tmp_path / "zoo"
        shutil.copytree(index_zoo[0], root)
        (root / reader).write_text(bomb)
        calls, errors, path = [lambda: zoo.list(root), lambda: zoo.verify(root=root)], ZooError, root / reader
    elif reader.startswith("entry "):
        root = tmp_path / "zoo"  # the shipped entry (config_zoo's copy holds whatever its fuzzing left)
        shutil.copytree(ROOT / "zoo" / "quickstart", root / "quickstart")
        name = reader.split()[1]
        data = bomb.encode()
        (root / "quickstart" / name).write_bytes(data)
        index = copy.deepcopy(config_zoo[1])
        index["entries"]["quickstart"]["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        (root / "index.json").write_text(json.dumps(index))
        calls, errors, path = [lambda: zoo.load("quickstart", root)], ZooError, root / "quickstart" / name
        if name == "config.json":
            calls.append(lambda: entry_config("quickstart", root))
    elif reader == "zoo_entry.json":
        calls = [lambda: pull("me/x", root=tmp_path / "z", api=OneRepoApi(bomb))]
        errors, path = ZooError, "zoo_entry.json"
    else:
        run = copy_run(finished_run, tmp_path)
        name = reader.split()[1] if reader.startswith("run ") else reader
        (run / name).write_text(bomb)
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
    for call in calls:
        with pytest.raises(errors) as e:
            call()
        message = capsys.readouterr().err if errors is SystemExit else str(e.value)
        assert str(path) in message and ("nested deeper" in message or "not valid JSON" in message), message
