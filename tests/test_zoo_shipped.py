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
