"""The LoRA baseline of paper Table 11 on polyps: seg_polyp.py with plain LoRA (rank 3, alpha 32,
no orthogonal regulariser, one learning rate). Other datasets: --set adapter.method=lora
adapter.lam=0 'adapter.factor_lr={}' on their recipe."""
from pathlib import Path

from lava_vision.train.recipe import load_recipe

config = load_recipe(Path(__file__).with_name("seg_polyp.py"))
config.adapter.method = "lora"
config.adapter.lam = 0.0
config.adapter.factor_lr = {}
config.output.name = "seg_polyp_lora"
