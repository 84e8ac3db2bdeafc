"""README statements made true by the code (issue 24): an integral float rank from --set, a recipe
whose task module is not importable gets the PYTHONPATH hint, tools/eval.py takes a run folder
alone, the synthetic-only zoo entries say so on their card, a 32 x 32 prediction prints no
"not writable" warning."""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import toy_config  # noqa: E402

from lava_vision.train import RecipeError, load_recipe, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_an_integral_float_rank_from_set_is_that_integer(tmp_path):
    cfg = toy_config(tmp_path, "adapter.rank=4.0", "train.max_steps=3.0")
    assert cfg.adapter.rank == 4 and type(cfg.adapter.rank) is int
    assert cfg.train.max_steps == 3 and type(cfg.train.max_steps) is int
    with pytest.raises(RecipeError, match="adapter.rank=4.5: expected int"):
        toy_config(tmp_path, "adapter.rank=4.5")


def test_a_recipe_importing_a_missing_task_module_gets_the_pythonpath_hint(tmp_path):
    recipe = tmp_path / "my_recipe.py"
    recipe.write_text("from my_task_not_on_path import MyDataConfig\n")
    with pytest.raises(RecipeError, match=r"my_recipe.py: .*no module named 'my_task_not_on_path'; install its "
                                          r"package or put the folder holding it on PYTHONPATH"):
        load_recipe(recipe)


def test_eval_tool_takes_a_run_folder_alone(tmp_path, monkeypatch, capsys):
    sets = ["train.max_steps=2", "eval.main_metric=", "eval.num_visualize=0", "eval.every=0"]
    run = train(toy_config(tmp_path, *sets))  # no best/: last/ is what metrics.json scored
    final = json.loads((run / "metrics.json").read_text())
    run_tool(monkeypatch, "eval.py", str(run), "--split", "val", "--out", str(tmp_path / "a.json"))
    run_tool(monkeypatch, "eval.py", "--adapter", str(run), "--out", str(tmp_path / "b.json"))
    for name in ("a.json", "b.json"):
        got = json.loads((tmp_path / name).read_text())
        assert got["split"] == "val" and got["adapter"] == str(run / "last")
        assert got["after"] == pytest.approx({k: v for k, v in final.items() if k not in ("split", "step")},
                                             rel=1e-6)
    assert "toy on split 'val'" in capsys.readouterr().out


def test_synthetic_zoo_entries_say_they_know_only_synthetic_data():
    from lava_vision.zoo.publish import data_scope

    card = (ROOT / "zoo" / "depth_synthetic" / "README.md").read_text()
    scope = next(line for line in card.splitlines() if line.startswith("**Scope:**"))
    assert "procedurally rendered rooms" in scope and "never on real photographs" in scope
    config = json.loads((ROOT / "zoo" / "depth_synthetic" / "config.json").read_text())
    assert scope == "**Scope:** " + data_scope(config["task"], config["data"])
    assert data_scope("depth", {"source": "nyu", "root": "datasets/nyu"}) is None


def test_predicting_a_32x32_image_prints_no_numpy_warning(tmp_path):
    from lava_vision import zoo

    path = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    entry = zoo.load("quickstart")
    assert entry.preprocess.output_size(32, 32) == (32, 32)  # no resize: the decoded array itself reaches torch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = entry.predict(str(path))
    assert result.probs.shape == (len(entry.classes),) and abs(float(result.probs.sum()) - 1) < 1e-5
