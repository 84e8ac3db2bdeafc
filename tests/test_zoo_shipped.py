"""Every entry shipped in the repo's zoo/ verifies, loads onto its base and reproduces the metrics
it records (relative 1e-5, CPU, fp32); the quickstart entry's top-1 is also recounted by hand."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from lava_vision import zoo
from lava_vision.train import evaluate
from lava_vision.zoo.card import read_front_matter

ROOT = Path(__file__).resolve().parent.parent / "zoo"
ENTRIES = sorted(zoo.read_index(ROOT)["entries"])


def test_quickstart_entry_is_shipped():
    assert "quickstart" in ENTRIES
    assert zoo.verify(root=ROOT) == ENTRIES


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_reproduces_recorded_metrics(name):
    entry = zoo.load(name, root=ROOT)
    rec = entry.record
    # a recorded quick subset (tools/publish.py --quick-samples) keeps slow entries fast
    target = rec["subsets"][0] if rec["subsets"] else rec
    got = evaluate(entry.task, entry.model, target["split"], rec["batch_size"], target["max_samples"], precision="fp32")
    # every recorded metric is reproduced; counters added later (depth's n_nonfinite) do not void an entry
    assert set(target["metrics"]) <= set(got)
    for k, v in target["metrics"].items():
        assert math.isclose(got[k], v, rel_tol=1e-5, abs_tol=1e-7), (name, k, got[k], v)
    card = read_front_matter((ROOT / name / "README.md").read_text(), name)
    assert card["metrics"] == rec["metrics"] == entry.entry["metrics"]


def test_quickstart_top1_by_hand():
    entry = zoo.load("quickstart", root=ROOT)
    ds = entry.task.build_dataset(entry.record["split"])
    correct = 0
    with torch.no_grad():
        for start in range(0, len(ds), 250):
            batch = entry.task.collate([ds[i] for i in range(start, min(start + 250, len(ds)))])
            correct += int((entry.model(batch["image"]).argmax(1) == batch["label"]).sum())
    assert math.isclose(correct / len(ds), entry.metrics["top1"], rel_tol=1e-6)


REAL = ["cifar_resnet20_gaussian_noise", "cifar_resnet20_defocus_blur"]


def test_real_entries_share_the_shipped_base_and_photos():
    from lava_vision.zoo.portable import package_dir

    index = zoo.read_index(ROOT)["entries"]
    assert set(REAL) <= set(index)
    assert len({index[n]["base_model_revision"] for n in REAL}) == 1  # one base: the shipped ResNet-20
    for name in REAL:
        entry = zoo.load(name, root=ROOT)
        root = Path(entry.config.data.root)
        assert root.is_relative_to(package_dir() / "assets") and entry.record["split"] == "test"
        assert entry.config.model.pretrained == "hub" and entry.classes[0] == "airplane"


@pytest.mark.parametrize("name", REAL)
def test_real_entry_top1_by_hand(name):
    """Top-1 recounted outside the dataset code: the shipped JPEGs read with PIL, corrupted as the
    entry's config says (photo k of the sorted listing seeded by (corruption_seed, k)), normalised
    with ImageNet's mean / std by hand; the entry's predict() on one photo agrees."""
    import numpy as np
    from PIL import Image

    from lava_vision.data.corruptions import corrupt

    entry = zoo.load(name, root=ROOT)
    data = entry.config.data
    folder = Path(data.root) / "test"
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = [(f, label) for label, c in enumerate(classes) for f in sorted((folder / c).glob("*.jpg"))]
    assert len(files) == 1000
    images = np.stack([corrupt(np.asarray(Image.open(f).convert("RGB")), data.corruption, data.severity,
                               data.corruption_seed, k) for k, (f, _) in enumerate(files)])
    x = (images / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    x = torch.from_numpy(x.transpose(0, 3, 1, 2)).float()
    with torch.no_grad():
        pred = torch.cat([entry.model(x[i:i + 250]) for i in range(0, 1000, 250)]).argmax(1)
    labels = torch.tensor([label for _, label in files])
    assert math.isclose(float((pred == labels).float().mean()), entry.metrics["top1"], rel_tol=1e-6)
    result = entry.predict(images[123])
    assert classes.index(result.label) == int(pred[123])


def test_real_entries_load_onto_one_base_and_predict_as_alone():
    """The two real entries loaded together share one model object (one ResNet-20 in memory) and each
    gives, on its own shipped photos, the outputs it gives when loaded alone (tests/test_zoo_shared.py)."""
    from test_zoo_shared import check_shared_entries

    shared = check_shared_entries(REAL, ROOT, n_items=32)
    assert shared[0].model is shared[1].model and [e.name for e in shared] == REAL


def test_real_entries_mix_as_the_sum_of_their_updates():
    """The two real entries adapt the convs only and keep the base's head, so they mix: through
    zoo.load([a, b]) and set_adapter({a: 1, b: 1}) the shared model equals a plain ResNet-20 whose conv
    weights are W + dW_a + dW_b, each dW read from that entry's unloaded (merged) model alone; the head
    is the base's. Probabilities compared on shipped photos with both corruptions."""
    import copy

    from lava_vision.adapters import check_mix, set_adapter, unload
    from lava_vision.adapters.named import base_state_dict

    shared = zoo.load(REAL, root=ROOT)
    model = shared[0].model
    check_mix(model, REAL)  # raises, naming the module, where two entries save the same one
    base = {k: v.clone() for k, v in base_state_dict(model).items()}
    merged = [unload(copy.deepcopy(zoo.load(n, root=ROOT).model)).state_dict() for n in REAL]
    assert all(torch.equal(m[k], base[k]) for m in merged for k in base if k.startswith("linear."))
    plain = unload(copy.deepcopy(zoo.load(REAL[0], root=ROOT).model))
    plain.load_state_dict({k: base[k] + sum(m[k] - base[k] for m in merged) for k in base})
    ds = shared[0].task.build_dataset("test")
    x = torch.stack([ds[i]["image"] for i in range(0, 1000, 50)])
    with torch.no_grad():
        set_adapter(model, REAL[0])
        alone = model(x)
        set_adapter(model, dict.fromkeys(REAL, 1.0))
        got, want = model(x), plain.eval()(x)
    assert (alone - want).abs().max() > 1e-2  # the second adapter changes the output
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * want.abs().max().item())
