"""The paper's LoRA baseline for ``sdxl_3d_icons.py``: diffusers' script's adapter (rank-4 LoRA on
the attention q/k/v/out projections only, no regulariser), same data, seed and schedule, so the
two runs compare side by side.

    python tools/train.py tasks/sdxl_3d_icons_lora.py
"""
from pathlib import Path

from lava_vision.train.recipe import load_recipe

config = load_recipe(Path(__file__).with_name("sdxl_3d_icons.py"))
config.adapter.method = "lora"
config.adapter.preset = None
config.adapter.targets = ["unet.*.attn*.to_q", "unet.*.attn*.to_k", "unet.*.attn*.to_v", "unet.*.attn*.to_out.0"]
config.adapter.excludes = []
config.adapter.rank, config.adapter.alpha, config.adapter.lam = 4, 4.0, 0.0
config.output.name = "sdxl_3d_icons_lora"
