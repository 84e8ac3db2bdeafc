"""A run's or a colleague's ``adapter_config.json`` is validated by type and range before use (issue 24):
a malformed one gives only AdapterFileError naming the file and key, and leaves the model as it was.
Property-based: hypothesis mutates the valid document the library writes (a value replaced by any JSON
value, NaN and infinities included, or a key deleted), plus the hand-picked cases of the issue; the
reference for "as it was" is a hand-made base model. Zoo files: test_untrusted_zoo_files.py; run
folders: test_untrusted_run_folders.py."""
from __future__ import annotations

import copy
import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from fuzz_files import BOMB_DEPTHS, FUZZ, assert_depth_bomb_refused, deep, mutate
from lava_vision.adapters import AdapterConfig, AdapterFileError, AdapterLayer, inject, load_adapter, save_adapter


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


@pytest.mark.parametrize("depth", BOMB_DEPTHS)
def test_a_depth_bomb_adapter_config_is_a_clear_error_naming_the_file(adapter_folder, tmp_path, capsys, depth):
    folder = tmp_path / "adapter"
    shutil.copytree(adapter_folder[0], folder)
    (folder / "adapter_config.json").write_text(deep(depth))
    assert_depth_bomb_refused([lambda: load_adapter(base_net(), folder)], AdapterFileError,
                              folder / "adapter_config.json", capsys)
