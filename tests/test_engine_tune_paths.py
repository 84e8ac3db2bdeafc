"""train.tune_conv_paths: before the first step the trainer times every path of each CP conv on the
first batch and keeps the fastest (adapters.autotune). The paths compute the same update, and the
tuning leaves the random streams alone, so a tuned run ends where an untuned one does (to float
rounding); the choice follows the timing; a path set explicitly (adapter.conv_path) stays."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import ROOT  # noqa: E402

import lava_vision.adapters.autotune as autotune  # noqa: E402
from lava_vision.adapters.conv_cp import PATHS  # noqa: E402
from lava_vision.train import apply_overrides, load_recipe, train  # noqa: E402
from test_own_photos import photo_folder  # noqa: E402

RECIPE = ROOT / "tasks" / "cifar_resnet20_noise.py"
CONVS = 19  # ResNet-20: the stem and 18 block convs, all 3x3


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return photo_folder(tmp_path_factory.mktemp("photos") / "my_photos", per_class=10)


def run(photos: Path, root: Path, name: str, *sets: str) -> Path:
    # 50 adapt photos in batches of 16 (flips drawn from torch's stream), 3 AdamW steps
    cfg = apply_overrides(load_recipe(RECIPE), [
        f"data.root={photos}", "train.max_steps=3", "train.batch_size=16", "eval.every=0", "eval.batch_size=100",
        "train.trackers=[]", f"output.root={root}", f"output.name={name}", *sets])
    return train(cfg)


def records(run_dir: Path, kind: str) -> list[dict]:
    return [r for r in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines()) if r["kind"] == kind]


# SGD: AdamW would turn the paths' float rounding in near-zero gradients into whole lr-sized steps
SGD = ["optim.name=sgd", "optim.momentum=0", "optim.lr=0.01"]


@pytest.mark.parametrize("saved", [[], ['adapter.modules_to_save=["linear","bn1"]'],
                                   ['adapter.modules_to_save=[]', 'adapter.targets=["linear"]', "adapter.dropout=0.5"]],
                         ids=["head", "head+bn1", "lora-head-dropout"])
def test_a_tuned_run_trains_the_same_steps_and_logs_its_choice(photos, tmp_path, saved):
    """With bn1 trained (saved with the adapter) its running statistics move in training mode: tuning's
    forward must not move them. With a dropout on the head's LoRA, its draws come from torch's stream,
    which the timing's random inputs must not advance. Another order of float sums changes a value by
    up to about 3e-3 of the tensor's largest; other dropout draws or moved statistics change it by far more."""
    plain = run(photos, tmp_path, "plain", "train.tune_conv_paths=false", *SGD, *saved)  # the recipe turns it on
    tuned = run(photos, tmp_path, "tuned", "train.tune_conv_paths=true", *SGD, *saved)
    [choice] = records(tuned, "conv_paths")
    assert choice["step"] == 0 and choice["tune_s"] > 0
    assert len(choice["chosen"]) == CONVS and set(choice["chosen"].values()) <= set(PATHS)
    assert records(plain, "conv_paths") == []
    want, got = load_file(plain / "last" / "adapter.safetensors"), load_file(tuned / "last" / "adapter.safetensors")
    assert want.keys() == got.keys()
    for k in want:
        scale = want[k].abs().max().item()
        torch.testing.assert_close(got[k], want[k], atol=1e-2 * scale, rtol=0, msg=lambda m, k=k: f"{k}: {m}")


def test_the_fastest_path_by_the_clock_is_kept(photos, tmp_path, monkeypatch):
    """A fake timing that makes `factored` fastest: every CP conv trains on it."""
    monkeypatch.setattr(autotune, "_time_paths",
                        lambda layer, x, output_size, repeats, clock: {"kernel": 3.0, "factored": 1.0, "two_conv": 2.0})
    tuned = run(photos, tmp_path, "tuned", "train.tune_conv_paths=true")
    assert set(records(tuned, "conv_paths")[0]["chosen"].values()) == {"factored"}


def test_a_path_set_explicitly_is_kept(photos, tmp_path, capsys):
    tuned = run(photos, tmp_path, "x", "train.tune_conv_paths=true", "adapter.conv_path=kernel")
    assert records(tuned, "conv_paths")[0]["chosen"] == {}
    assert "0 CP convs timed" in capsys.readouterr().out


def test_the_benchmark_times_auto_against_the_timed_paths(photos, monkeypatch, capsys):
    """tools/benchmark_compile.py --variant tuned: the paths it compares are auto's (kernel for the 3-channel
    stem, two_conv for the block convs on CPU) and the timing's (here a fake clock's: factored)."""
    from inprocess_tools import run_tool

    monkeypatch.setattr(autotune, "_time_paths",
                        lambda layer, x, output_size, repeats, clock: {"kernel": 3.0, "factored": 1.0, "two_conv": 2.0})
    run_tool(monkeypatch, "benchmark_compile.py", str(RECIPE), "--variant", "tuned", "--repeats", "2", "--warmup",
             "0", "--set", f"data.root={photos}", "train.batch_size=16")
    out = capsys.readouterr().out
    assert "conv1 kernel->factored" in out and out.count("two_conv->factored") == CONVS - 1
    assert re.search(r"tuned / eager: \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", out), out
    # and each timed step runs on its own paths
    from benchmark_compile import with_paths

    layers = {"a": SimpleNamespace(path="two_conv"), "b": SimpleNamespace(path="two_conv")}
    seen = []
    with_paths(layers, {"a": "kernel", "b": "factored"}, lambda: seen.append([m.path for m in layers.values()]))()
    assert seen == [["kernel", "factored"]]


def test_paths_are_timed_in_the_training_precision(photos, tmp_path, monkeypatch):
    """bf16 training (on CPU too): the timing runs under the same autocast as the steps."""
    seen = []

    def fake(layer, x, output_size, repeats, clock):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return {"kernel": 1.0, "factored": 2.0, "two_conv": 3.0}

    monkeypatch.setattr(autotune, "_time_paths", fake)
    run(photos, tmp_path, "bf16", "train.tune_conv_paths=true", "train.precision=bf16")
    assert seen and all(seen)
