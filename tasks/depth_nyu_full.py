"""Table 4 "FT (Depth-Anything)": full fine-tuning (335.3M parameters on Large) with Depth-Anything
V2's metric recipe: encoder lr 5e-6, neck and head 10x.

    python tasks/depth_nyu_full.py     # print the trainable-parameter count on Large
"""
from pathlib import Path

from lava_vision.train.recipe import load_recipe

config = load_recipe(Path(__file__).with_name("depth_nyu.py"))
config.adapter.method = "full"
config.adapter.preset = None
config.adapter.overrides = {}
config.adapter.lam = 0.0
config.optim.lr = 5e-6
config.optim.module_lr = {"neck*": 10.0, "head*": 10.0}
config.output.name = "depth_nyu_full"

if __name__ == "__main__":
    from lava_vision.tasks.depth.params import summary

    print(summary(config))
