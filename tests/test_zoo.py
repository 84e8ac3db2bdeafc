"""Zoo: publish a tiny real run, load it back, and refuse every kind of bad entry.

One tiny quickstart run (QuickNet, 2 steps, 16 validation images) is trained once per module;
each test publishes into its own zoo folder. References are computed independently: sha256 by
hashlib, parameter counts from the safetensors file and a fresh model, top-1 by hand from logits,
preprocessing against the dataset's own albumentations pipeline."""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lava_vision import zoo
from lava_vision.train import load_recipe, train
from lava_vision.train.build import load_trained
from lava_vision.zoo import ZooError
from lava_vision.zoo.card import read_front_matter, table_metrics
from lava_vision.zoo.publish import publish

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "tasks" / "quickstart.py"


def tiny_config(root: Path):
    cfg = load_recipe(RECIPE)
    cfg.train.max_steps, cfg.train.batch_size, cfg.schedule.warmup_steps = 2, 8, 0
    cfg.data.train_size, cfg.data.val_size = 16, 16
    cfg.eval.batch_size, cfg.eval.num_visualize = 8, 0
    cfg.output.root, cfg.output.name = str(root), "tiny"
    return cfg


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return train(tiny_config(tmp_path_factory.mktemp("runs")))


@pytest.fixture
def published(run_dir, tmp_path) -> Path:
    root = tmp_path / "zoo"
    publish(run_dir, "tiny", root=root, recipe=str(RECIPE))
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
           }


def test_publish_writes_entry_index_and_card(run_dir, published):
    entry_dir = published / "tiny"
    assert sorted(p.name for p in entry_dir.iterdir()) == ["README.md", "adapter.safetensors",
                                                            "adapter_config.json", "config.json", "metrics.json"]
    record = json.loads((published / "index.json").read_text())["entries"]["tiny"]
    for name, rec in record["files"].items():
        data = (entry_dir / name).read_bytes()
        assert rec == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    # the run's own numbers: the trainer keeps best/'s metrics in its adapter_config.json
    run_metrics = json.loads((run_dir / "best" / "adapter_config.json").read_text())["metadata"]["metrics"]
    card = (entry_dir / "README.md").read_text()
    front = read_front_matter(card, "card")
    assert front["metrics"] == run_metrics == record["metrics"]
    assert all(math.isclose(v, run_metrics[k], rel_tol=5e-6) for k, v in table_metrics(card).items())
    assert set(table_metrics(card)) == set(run_metrics)
    assert "| peft | `python tools/zoo.py export tiny --format peft` |" in card  # which formats load where
    # parameter counts from the file itself and from a fresh base network
    from lava_vision.tasks.classification.quicknet import ASSET, load_quicknet

    n_adapter = sum(t.numel() for t in load_file(str(entry_dir / "adapter.safetensors")).values())
    n_base = sum(p.numel() for p in load_quicknet(ASSET).parameters())
    assert (front["trainable_params"], front["base_params"]) == (n_adapter, n_base)
    assert math.isclose(front["trainable_percent"], 100 * n_adapter / n_base, rel_tol=1e-4)
    recorded = (front["task"], front["adapter_method"], front["rank"], front["split"])
    assert recorded == ("classification", "lava", 4, "val")
    # pretrained='hub' of the lava_vision library loads a file shipped in the package: said so, no "hub"
    packaged = ASSET.relative_to(REPO).as_posix()
    assert packaged.startswith("lava_vision/assets/") and ASSET.is_file()
    assert front["base_model_id"] == f"library=lava_vision name=quicknet weights=packaged ({packaged})"
    assert front["license"] == "apache-2.0" and "LAVA" in front["citation"]
    for part in ("python tools/train.py tasks/quickstart.py --set", "train.max_steps=2", "data.val_size=16"):
        assert part in front["training_command"]
    assert "output." not in front["training_command"]  # where the run folder went is not part of the result
    # the recipe + --set in the command rebuild the run's config exactly (but for output)
    import shlex

    from lava_vision.train import apply_overrides

    args = shlex.split(front["training_command"])
    rebuilt = json.loads(json.dumps(apply_overrides(load_recipe(REPO / args[2]), args[4:]).to_dict()))
    stored = json.loads((run_dir / "config.json").read_text())
    assert {**rebuilt, "output": None} == {**stored, "output": None}


def test_load_reproduces_run_and_hand_top1(run_dir, published):
    entry = zoo.load("tiny", root=published)
    assert not entry.model.training and entry.config.task == "classification"
    cfg = tiny_config(run_dir.parent)
    task, ref = load_trained(cfg, run_dir / "best")  # the engine's own loading path
    ref.eval()
    ds = task.build_dataset("val")
    batch = task.collate([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        logits = entry.model(batch["image"])
        torch.testing.assert_close(logits, ref(batch["image"]), rtol=0, atol=0)
    top1 = (logits.argmax(1) == batch["label"]).double().mean().item()
    assert math.isclose(top1, entry.metrics["top1"], rel_tol=1e-6)


def test_shipped_entries_on_packaged_weights_say_so():
    """Every shipped entry whose base is built with the lava_vision library's pretrained='hub'
    weights (files inside the package, nothing downloaded) is listed with that file, never as hub."""
    assets = REPO / "lava_vision" / "assets"
    checked = 0
    for row in zoo.list():
        model = json.loads((zoo.zoo_root() / row["name"] / "config.json").read_text())["model"]
        assert "pretrained=hub" not in row["base"], row
        if model.get("library") == "lava_vision" and model.get("pretrained") == "hub":
            said = row["base"].split("weights=packaged (", 1)[1].rstrip(")")
            assert (REPO / said).is_file() and (REPO / said).parent == assets, row
            assert zoo.read_index()["entries"][row["name"]]["base_model_id"] == row["base"]
            checked += 1
    assert checked >= 1


def test_preprocess_matches_dataset_pipeline(published):
    from lava_vision.data.procedural import render_shapes

    entry = zoo.load("tiny", root=published)
    images, _ = render_shapes(3, "target", "val", 0, 48)  # 48 px: the resize is exercised
    from lava_vision.tasks.classification.data import build_transform

    reference = build_transform(entry.config.model, train=False, hflip=False)
    for img in images:
        torch.testing.assert_close(entry.preprocess(img)[0], reference(image=img)["image"], rtol=0, atol=2e-6)
    assert entry.preprocess(images[0]).shape == (1, 3, 32, 32)


def test_list_and_table(published):
    rows = zoo.list(published)
    assert [(r["name"], r["task"], r["method"], r["rank"]) for r in rows] == [("tiny", "classification", "lava", 4)]
    table = zoo.format_table(rows)
    assert "tiny" in table and "quicknet" in table and "top1=" in table


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "extra"])
def test_damaged_files_refused(published, damage):
    path = published / "tiny" / "adapter.safetensors"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-5] ^= 0xFF
        path.write_bytes(bytes(data))
        msg = "sha256"
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
        msg = "truncated"
    elif damage == "delete":
        path.unlink()
        msg = "missing"
    else:
        (published / "tiny" / "notes.txt").write_text("x")
        msg = "notes.txt"
    for call in (lambda: zoo.load("tiny", root=published), lambda: zoo.verify("tiny", published)):
        with pytest.raises(ZooError, match=msg):
            call()


def test_missing_entry_names_known_ones(published):
    with pytest.raises(ZooError, match=r"no entry 'nope'.*known: tiny"):
        zoo.load("nope", root=published)


def test_different_base_weights_refused(published, tmp_path):
    from lava_vision.tasks.classification.quicknet import ASSET

    tensors = load_file(str(ASSET))
    key = next(k for k in tensors if k.endswith("features.0.0.weight"))
    tensors[key] = tensors[key] + 1e-3  # a base re-trained ever so slightly
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(ASSET), "pt") as f:
        meta = f.metadata()
    other = tmp_path / "other_base.safetensors"
    save_file(tensors, str(other), metadata=meta)
    cfg = zoo.load("tiny", root=published).config
    cfg.model.pretrained = str(other)
    with pytest.raises(ZooError, match="different base weights"):
        zoo.load("tiny", root=published, config=cfg)
    cfg.model.pretrained, cfg.model.num_classes = "hub", 7  # other head shape: the layer fingerprint
    with pytest.raises(ZooError, match="fc"):
        zoo.load("tiny", root=published, config=cfg, check_base=False)


def test_refuses_existing_entry_unless_forced(run_dir, published):
    before = snapshot(published)
    with pytest.raises(ZooError, match="already exists"):
        publish(run_dir, "tiny", root=published, recipe=str(RECIPE))
    assert snapshot(published) == before
    publish(run_dir, "tiny", root=published, recipe=str(RECIPE), force=True, license="mit")
    assert "license: mit" in (published / "tiny" / "README.md").read_text()
    assert zoo.verify(root=published) == ["tiny"]
    assert not [p for p in published.iterdir() if p.name.startswith(".tiny")]


def test_refuses_run_without_evaluation(run_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(run_dir, bare)
    shutil.rmtree(bare / "best")
    (bare / "metrics.json").unlink()
    with pytest.raises(ZooError, match="no evaluation"):
        publish(bare, "bare", root=tmp_path / "zoo", recipe=str(RECIPE))
    assert zoo.list(tmp_path / "zoo") == []


def test_refuses_metrics_the_adapter_does_not_reproduce(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    path = run / "best" / "adapter_config.json"
    doc = json.loads(path.read_text())
    doc["metadata"]["metrics"]["top1"] += 0.0625  # one image of 16
    path.write_text(json.dumps(doc))
    with pytest.raises(ZooError, match="does not reproduce.*top1"):
        publish(run, "x", root=tmp_path / "zoo", recipe=str(RECIPE))


def test_refuses_card_whose_metrics_differ(run_dir, tmp_path, monkeypatch):
    import lava_vision.zoo.publish as pub

    real = pub.render_card

    def wrong_card(name, facts, preprocess, extra, exports=None, **kwargs):
        facts = {**facts, "metrics": {k: v + 0.01 for k, v in facts["metrics"].items()}}
        return real(name, facts, preprocess, extra, exports, **kwargs)

    monkeypatch.setattr(pub, "render_card", wrong_card)
    root = tmp_path / "zoo"
    with pytest.raises(ZooError, match="front matter says"):
        publish(run_dir, "x", root=root, recipe=str(RECIPE))
    assert list(root.iterdir()) == []  # no entry, no index, no temp folder


def test_failed_index_write_leaves_zoo_as_it_was(run_dir, published, monkeypatch):
    import lava_vision.zoo.publish as pub

    before = snapshot(published)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pub, "write_index", broken)
    with pytest.raises(OSError, match="disk full"):
        publish(run_dir, "tiny", root=published, recipe=str(RECIPE), force=True)
    with pytest.raises(OSError):
        publish(run_dir, "second", root=published, recipe=str(RECIPE))
    assert snapshot(published) == before
    assert sorted(p.name for p in published.iterdir()) == ["index.json", "tiny"]


def test_quick_subset_recorded(run_dir, tmp_path):
    root = tmp_path / "zoo"
    publish(run_dir, "q", root=root, recipe=str(RECIPE), quick_samples=8, reuse_eval=True)
    metrics = json.loads((root / "q" / "metrics.json").read_text())
    assert metrics["reproduced_at_publish"] is False
    (subset,) = metrics["subsets"]
    entry = zoo.load("q", root=root)
    ds = entry.task.build_dataset("val")
    batch = entry.task.collate([ds[i] for i in range(8)])
    with torch.no_grad():
        top1 = (entry.model(batch["image"]).argmax(1) == batch["label"]).double().mean().item()
    assert subset["max_samples"] == 8 and math.isclose(subset["metrics"]["top1"], top1, rel_tol=1e-6)


def test_bad_names_refused(run_dir, tmp_path):
    for bad in ("../evil", "Upper", "", "a/b"):
        with pytest.raises(ZooError, match="zoo entry name"):
            publish(run_dir, bad, root=tmp_path, recipe=str(RECIPE))
    assert list(tmp_path.iterdir()) == []


def test_publish_split_reports_the_eval_tool_result_on_that_split(run_dir, tmp_path):
    """``split="test"``: the card reports the tools/eval.py evaluation on test of the adapter chosen
    on val, never the run's own val numbers; without that evaluation publishing is refused."""
    from lava_vision.train import evaluate
    from lava_vision.train.checkpoint import find_adapter_dir
    from lava_vision.train.config import RunConfig

    with pytest.raises(ZooError, match="tools/eval.py RECIPE --adapter .* --split test"):
        publish(run_dir, "tiny", root=tmp_path / "zoo0", recipe=str(RECIPE), split="test")
    cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    adapter_dir = find_adapter_dir(run_dir)
    task, model = load_trained(cfg, adapter_dir)
    test = evaluate(task, model, "test", batch_size=8)
    val = evaluate(task, model, "val", batch_size=8)
    assert test != val  # otherwise the test could not tell the splits apart
    doc = {"split": "test", "max_samples": 0, "adapter": str(adapter_dir), "after": test}
    (run_dir / "eval_test.json").write_text(json.dumps(doc))
    try:
        entry = publish(run_dir, "tiny", root=tmp_path / "zoo", recipe=str(RECIPE), split="test")
    finally:
        (run_dir / "eval_test.json").unlink()
    record = json.loads((entry / "metrics.json").read_text())
    assert record["split"] == "test" and record["source"] == "eval_test.json"
    assert record["metrics"]["top1"] == pytest.approx(test["top1"], rel=1e-6, abs=0)
    assert read_front_matter((entry / "README.md").read_text(), "card")["split"] == "test"


def test_publish_eval_data_moves_only_the_evaluation_data(run_dir, tmp_path):
    """``eval_data``: the entry is evaluated on other data (e.g. photos shipped with the package); the
    stored config points there, the card's training command still rebuilds the run's own config."""
    from lava_vision.train import evaluate
    from lava_vision.train.checkpoint import find_adapter_dir
    from lava_vision.train.config import RunConfig

    with pytest.raises(ZooError, match="only data"):
        publish(run_dir, "x", root=tmp_path / "zoo0", recipe=str(RECIPE), split="test",
                eval_data=["model.num_classes=3"])
    cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    cfg.data.val_size = 24  # the "other data": 24 images instead of the run's 16
    adapter_dir = find_adapter_dir(run_dir)
    task, model = load_trained(cfg, adapter_dir)
    test = evaluate(task, model, "test", batch_size=8)
    (run_dir / "eval_test.json").write_text(json.dumps({"split": "test", "max_samples": 0,
                                                        "adapter": str(adapter_dir), "after": test}))
    try:
        entry = publish(run_dir, "moved", root=tmp_path / "zoo", recipe=str(RECIPE), split="test",
                        eval_data=["data.val_size=24"], notes="Shapes drawn by *procedural.py*.")
    finally:
        (run_dir / "eval_test.json").unlink()
    assert json.loads((entry / "config.json").read_text())["data"]["val_size"] == 24
    card = read_front_matter((entry / "README.md").read_text(), "card")
    assert "data.val_size=16" in card["training_command"] and "val_size=24" not in card["training_command"]
    assert "## Data\n\nShapes drawn by *procedural.py*.\n" in (entry / "README.md").read_text()
    loaded = zoo.load("moved", root=tmp_path / "zoo")
    assert len(loaded.task.build_dataset("test")) == 24
    assert loaded.metrics["top1"] == pytest.approx(test["top1"], rel=1e-6, abs=0)


def test_publish_tool_in_a_fresh_process(run_dir, tmp_path):
    """tools/publish.py as a user runs it: a new interpreter that has not imported the packaged tasks
    reads the run's config.json (task 'classification') and publishes."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(REPO / "tools" / "publish.py"), str(run_dir), "--id", "tiny_cli",
                           "--recipe", str(RECIPE), "--zoo-root", str(tmp_path / "zoo")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "zoo" / "tiny_cli" / "adapter.safetensors").is_file()
