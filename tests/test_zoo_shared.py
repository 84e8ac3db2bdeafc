"""A zoo that shares bases: two entries published (through the real publish code) from two tiny
quickstart runs on the same QuickNet base load onto one model object; each predicts exactly as
when loaded alone; an entry is refused onto another base with both named; the memory is one base
plus each adapter's file; tools/predict.py --zoo A --zoo B writes each entry's own predictions.

``check_shared_entries(names, root)`` is the check to point at shipped entries sharing a base."""
from __future__ import annotations

import copy
import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lava_vision import zoo
from lava_vision.adapters import adapter_memory, adapter_names, set_adapter
from lava_vision.adapters.named import base_state_dict
from lava_vision.train import load_recipe, train
from lava_vision.zoo import ZooError
from lava_vision.zoo.publish import publish

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "tasks" / "quickstart.py"
torch.set_num_threads(1)


def check_shared_entries(names: list[str], root: str | Path, n_items: int = 16) -> list:
    """Load ``names`` onto one base and check: one model object holds every entry's adapter, each
    entry's outputs on ``n_items`` of its recorded split equal those of the entry loaded alone, and
    each loaded alone had the same base weights. Returns the shared entries."""
    shared = zoo.load(list(names), root=root)
    assert all(e.model is shared[0].model for e in shared)
    assert adapter_names(shared[0].model) == list(names)
    for entry in shared:
        alone = zoo.load(entry.name, root=root)
        ds = entry.task.build_dataset(entry.record["split"])
        batch = entry.task.collate([ds[i] for i in range(min(n_items, len(ds)))])
        set_adapter(entry.model, entry.name)
        with torch.no_grad():
            got, want = entry.model(batch["image"]), alone.model(batch["image"])
        assert torch.allclose(got, want, rtol=0, atol=1e-6 * want.abs().max().item()), entry.name
    return shared


def tiny_config(root: Path, seed: int):
    cfg = load_recipe(RECIPE)
    cfg.train.max_steps, cfg.train.batch_size, cfg.schedule.warmup_steps = 3, 8, 0
    cfg.train.lr = 0.05  # a few large steps: two clearly different adapters
    cfg.data.train_size, cfg.data.val_size = 16, 16
    cfg.eval.batch_size, cfg.eval.num_visualize = 8, 0
    cfg.output.root, cfg.output.name, cfg.train.seed = str(root), f"tiny{seed}", seed
    return cfg


@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory) -> Path:
    runs, root = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("zoo")
    for name, seed in (("shapes_a", 0), ("shapes_b", 1)):
        publish(train(tiny_config(runs, seed)), name, root=root, recipe=str(RECIPE))
    return root


def test_two_entries_share_one_base_and_predict_as_alone(zoo_root):
    a, b = check_shared_entries(["shapes_a", "shapes_b"], zoo_root)
    rgb = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    alone = {n: zoo.load(n, root=zoo_root).predict(rgb).probs for n in ("shapes_a", "shapes_b")}
    assert not np.allclose(alone["shapes_a"], alone["shapes_b"], atol=1e-4)  # two different adapters
    for entry in (b, a, b):  # each entry switches the shared model to its own adapter
        np.testing.assert_allclose(entry.predict(rgb).probs, alone[entry.name], atol=1e-6)
    np.testing.assert_allclose(a.predict(rgb, adapter="shapes_b").probs, alone["shapes_b"], atol=1e-6)
    with pytest.raises(ValueError, match="both save module 'fc'"):  # each entry trains its own head
        a.predict(rgb, adapter={"shapes_a": 0.5, "shapes_b": 0.5})

    # memory: one base plus each adapter, the adapter's bytes being its file's tensors
    memory = adapter_memory(a.model)
    plain = zoo.load("shapes_a", root=zoo_root)
    base_bytes = sum(v.numel() * v.element_size() for v in base_state_dict(plain.model).values())
    assert memory["base"] == base_bytes
    for n in ("shapes_a", "shapes_b"):
        tensors = load_file(zoo_root / n / "adapter.safetensors").values()
        assert memory[n] == sum(v.numel() * v.element_size() for v in tensors)


def test_an_entry_is_refused_onto_another_base_naming_both(zoo_root):
    a = zoo.load("shapes_a", root=zoo_root)
    before = {k: v.clone() for k, v in a.model.state_dict().items()}
    with torch.no_grad():  # one base weight of an adapted layer, off by 1e-3
        next(p for n, p in a.model.named_parameters() if ".base_layer." in n).add_(1e-3)
    with pytest.raises(ZooError, match=r"zoo entry 'shapes_b' was trained on .* but the base of zoo entry "
                                       r"'shapes_a' .* has weights-sha256:"):
        zoo.load("shapes_b", root=zoo_root, base=a)
    other = copy.deepcopy(a.model)
    with pytest.raises(ZooError, match="but the given"):
        zoo.load("shapes_b", root=zoo_root, base=other)
    assert adapter_names(a.model) == ["shapes_a"] and list(a.model.state_dict()) == list(before)


def test_predict_tool_writes_each_entry_side_by_side(zoo_root, tmp_path, monkeypatch):
    import cv2

    (tmp_path / "in").mkdir()
    for i in range(2):
        rgb = (np.random.default_rng(i).random((36, 36, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "in" / f"img{i}.png"), rgb)
    run_tool(monkeypatch, "predict.py", "--zoo", "shapes_a", "--zoo", "shapes_b", "--zoo-root", str(zoo_root),
             "--input", str(tmp_path / "in"), "--out", str(tmp_path / "both"), "--device", "cpu")
    for n in ("shapes_a", "shapes_b"):
        run_tool(monkeypatch, "predict.py", "--zoo", n, "--zoo-root", str(zoo_root), "--input", str(tmp_path / "in"),
                 "--out", str(tmp_path / n), "--device", "cpu")
        with open(tmp_path / "both" / n / "predictions.csv") as f1, open(tmp_path / n / "predictions.csv") as f2:
            got, want = list(csv.reader(f1)), list(csv.reader(f2))
        assert got[0] == want[0] and len(got) == 3
        np.testing.assert_allclose(np.array([r[2:] for r in got[1:]], float),
                                   np.array([r[2:] for r in want[1:]], float), atol=1e-6)


@pytest.fixture(scope="module")
def mixable_root(tmp_path_factory) -> Path:
    """Two entries whose adapters are on the convs only (the base's head kept): they can be mixed."""
    runs, root = tmp_path_factory.mktemp("runs_mix"), tmp_path_factory.mktemp("zoo_mix")
    for name, seed in (("convs_a", 0), ("convs_b", 1)):
        cfg = tiny_config(runs, seed)
        cfg.adapter.modules_to_save = []
        publish(train(cfg), name, root=root, recipe=str(RECIPE))
    return root


def test_predict_tool_mixes_entries_that_share_every_non_adapter_weight(mixable_root, tmp_path, monkeypatch):
    """--mix 1 0.5 equals a model built by hand: each entry loaded alone and unloaded (its dW folded
    into the weights), then base + 1 dW_a + 0.5 dW_b written into a plain copy of the base."""
    import cv2

    from lava_vision.adapters import unload
    from lava_vision.inference import Predictor

    (tmp_path / "in").mkdir()
    rgbs = [(np.random.default_rng(i).random((36, 36, 3)) * 255).astype(np.uint8) for i in range(2)]
    for i, rgb in enumerate(rgbs):
        cv2.imwrite(str(tmp_path / "in" / f"img{i}.png"), rgb[..., ::-1])
    run_tool(monkeypatch, "predict.py", "--zoo", "convs_a", "--zoo", "convs_b", "--zoo-root", str(mixable_root),
             "--mix", "1", "0.5", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--device", "cpu")
    with open(tmp_path / "out" / "mix" / "predictions.csv") as f:
        rows = list(csv.reader(f))[1:]

    a, b = (zoo.load(n, root=mixable_root) for n in ("convs_a", "convs_b"))
    base = {k: v.clone() for k, v in base_state_dict(a.model).items()}
    merged = [unload(copy.deepcopy(e.model)).state_dict() for e in (a, b)]
    assert all(torch.equal(m[k], base[k]) for m in merged for k in base if k.startswith("fc."))  # head kept
    assert any(not torch.equal(merged[1][k], base[k]) for k in base)  # b's update is not zero
    plain = unload(copy.deepcopy(a.model))
    plain.load_state_dict({k: base[k] + (merged[0][k] - base[k]) + 0.5 * (merged[1][k] - base[k]) for k in base})
    by_hand = Predictor(a.task, plain.eval(), a.config, "fp32")
    assert [r[0] for r in rows] == ["img0.png", "img1.png"]
    for rgb, row in zip(rgbs, rows):
        np.testing.assert_allclose(np.array(row[2:], float), by_hand.predict(rgb).probs, atol=1e-5)
    with pytest.raises(SystemExit):  # one weight per entry
        run_tool(monkeypatch, "predict.py", "--zoo", "convs_a", "--zoo", "convs_b", "--zoo-root", str(mixable_root),
                 "--mix", "1", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "bad"), "--device", "cpu")


def test_predict_for_a_deleted_adapter_is_an_error_naming_it(zoo_root):
    """After ``delete_adapter(model, "shapes_a")`` the entry's predict would otherwise answer with
    shapes_b, the adapter left on the shared model: it is a ZooError naming shapes_a instead."""
    from lava_vision.adapters import delete_adapter

    a, b = zoo.load(["shapes_a", "shapes_b"], root=zoo_root)
    rgb = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    delete_adapter(a.model, "shapes_a")
    with pytest.raises(ZooError, match=r"zoo entry 'shapes_a'.*no longer has adapter 'shapes_a'.*\['shapes_b'\]"):
        a.predict(rgb)
    want = zoo.load("shapes_b", root=zoo_root).predict(rgb).probs
    np.testing.assert_allclose(b.predict(rgb).probs, want, atol=1e-6)  # the other entry still answers
    np.testing.assert_allclose(a.predict(rgb, adapter="shapes_b").probs, want, atol=1e-6)  # when asked to


@pytest.mark.parametrize("name", ["quick.start", "a\n", "", "Upper", "-lead"])
def test_zoo_ids_and_adapter_names_follow_one_rule(name):
    """A zoo id is loaded as its adapter's name, so an id the zoo accepts must be an adapter name:
    ``quick.start`` (a '.' would split the adapter's module path), control characters and the empty
    name are refused by both, never turned into ``default``."""
    from lava_vision.adapters import AdapterConfig, inject
    from lava_vision.zoo.index import check_name

    model = torch.nn.Sequential(torch.nn.Linear(3, 3))
    with pytest.raises(ZooError, match="zoo entry name"):
        check_name(name)
    if name != "Upper":  # an adapter name may hold capitals; a zoo id (a Hub repo name) is lower case
        with pytest.raises(ValueError, match="adapter name"):
            inject(model, AdapterConfig(rank=1, targets=["0"]), name=name)
        assert adapter_names(model) == []
    for good in ("quick_start", "shapes-b2"):
        assert check_name(good) == good
        inject(model, AdapterConfig(rank=1, targets=["0"]), name=good)
    assert adapter_names(model) == ["quick_start", "shapes-b2"]
