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
import shutil
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
