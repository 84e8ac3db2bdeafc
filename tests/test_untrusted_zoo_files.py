"""Zoo files from elsewhere are validated by type and range before use (issues 24, 28): a malformed
``index.json`` record, entry ``config.json`` or ``metrics.json`` gives only ZooError naming the file and
key, never lets an entry name reach outside the zoo, and leaves the zoo as it was. Property-based:
hypothesis mutates the shipped and hand-made documents (see fuzz_files.mutate), plus the hand-picked
cases of the issues. Adapter files: test_untrusted_adapter_files.py; run folders:
test_untrusted_run_folders.py."""
from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_files import BOMB_DEPTHS, FUZZ, assert_depth_bomb_refused, deep, mutate, tree
from lava_vision import zoo
from lava_vision.zoo import ZooError
from lava_vision.zoo.hub import pull
from lava_vision.zoo.index import get_entry
from lava_vision.zoo.load import entry_config

ROOT = Path(__file__).resolve().parents[1]


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



class OneRepoApi:
    """snapshot_download of a repo holding only ``zoo_entry.json`` (the hub's reader, no network)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def snapshot_download(self, repo_id, repo_type, revision, local_dir):
        Path(local_dir).mkdir(parents=True)
        (Path(local_dir) / "zoo_entry.json").write_text(self.text)
        return local_dir


@pytest.mark.parametrize("depth", BOMB_DEPTHS)
@pytest.mark.parametrize("reader", ["index.json", "entry config.json", "entry metrics.json", "zoo_entry.json"])
def test_a_depth_bomb_is_a_clear_error_naming_the_file_in_every_zoo_reader(
        index_zoo, config_zoo, tmp_path, capsys, reader, depth):
    bomb = deep(depth)
    if reader == "index.json":
        root = tmp_path / "zoo"
        shutil.copytree(index_zoo[0], root)
        (root / reader).write_text(bomb)
        calls, path = [lambda: zoo.list(root), lambda: zoo.verify(root=root)], root / reader
    elif reader.startswith("entry "):
        root = tmp_path / "zoo"  # the shipped entry (config_zoo's copy holds whatever its fuzzing left)
        shutil.copytree(ROOT / "zoo" / "quickstart", root / "quickstart")
        name = reader.split()[1]
        data = bomb.encode()
        (root / "quickstart" / name).write_bytes(data)
        index = copy.deepcopy(config_zoo[1])
        index["entries"]["quickstart"]["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        (root / "index.json").write_text(json.dumps(index))
        calls, path = [lambda: zoo.load("quickstart", root)], root / "quickstart" / name
        if name == "config.json":
            calls.append(lambda: entry_config("quickstart", root))
    else:
        calls, path = [lambda: pull("me/x", root=tmp_path / "z", api=OneRepoApi(bomb))], "zoo_entry.json"
    assert_depth_bomb_refused(calls, ZooError, path, capsys)
