"""The depth recipes load, round-trip through JSON, and train what the paper's Table 4 counts."""
import json

import pytest

from lava_vision.tasks.depth.params import architecture_plan
from lava_vision.train.config import RunConfig
from lava_vision.train.recipe import load_recipe

RECIPES = ["depth_nyu", "depth_nyu_lora", "depth_nyu_lora_convs", "depth_nyu_full", "depth_synthetic"]


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_loads_and_round_trips(name):
    cfg = load_recipe(f"tasks/{name}.py")
    assert cfg.task == "depth"
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again.to_dict() == cfg.to_dict()


def test_paper_hyperparameters_of_the_lava_recipe():
    cfg = load_recipe("tasks/depth_nyu.py")
    assert (cfg.train.batch_size, cfg.train.epochs, cfg.optim.lr, cfg.optim.weight_decay, cfg.adapter.lam) == (
        4, 10, 1.61e-4, 0.01, 0.01)
    assert cfg.model.size == "large" and cfg.data.input_size == 518


def test_trainable_counts_on_the_large_architecture():
    # Encoder, by hand: 24 blocks x rank x (4 x (1024 + 1024) + (1024 + 4096) + (4096 + 1024)).
    lava = architecture_plan(load_recipe("tasks/depth_nyu.py"))
    enc = sum(r.params for r in lava.rows if r.name.startswith("backbone"))
    assert enc == 24 * 2 * (4 * 2048 + 2 * 5120)
    assert lava.base_params == 335_315_649  # the paper's 335.3M
    assert lava.trainable_params == pytest.approx(1.14e6, rel=0.005)  # paper: LAVA 1.14M
    lora_enc = architecture_plan(load_recipe("tasks/depth_nyu_lora.py"))
    assert lora_enc.trainable_params == 24 * 2 * 8 * (1024 + 1024)  # q and v, rank 8: the paper's 0.79M
    lora_all = architecture_plan(load_recipe("tasks/depth_nyu_lora_convs.py"))
    assert lora_all.trainable_params > lava.trainable_params  # flattened conv factors cost more
    assert architecture_plan(load_recipe("tasks/depth_nyu_full.py")).trainable_params == 335_315_649
