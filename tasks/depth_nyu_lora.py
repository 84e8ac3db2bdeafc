"""Table 4 "LoRA (Encoder-only)": plain LoRA on the DINOv2 query/value projections, rank 8, decoder
frozen. On Large that is 786,432 trainable parameters = the paper's 0.79M (the same count as
PEFT LoRA rank 8 on the original code's fused qkv linear, which is likely what was used).

    python tasks/depth_nyu_lora.py     # print the trainable-parameter count on Large
"""
from pathlib import Path

from lava_vision.train.recipe import load_recipe

ENCODER_QV = "re:backbone\\.encoder\\.layer\\.\\d+\\.attention\\.(attention\\.)?(q_proj|v_proj|query|value)"

config = load_recipe(Path(__file__).with_name("depth_nyu.py"))
config.adapter.method = "lora"
config.adapter.preset = None
config.adapter.targets = [ENCODER_QV]
config.adapter.overrides = {}
config.adapter.rank, config.adapter.alpha, config.adapter.lam = 8, 8.0, 0.0
config.output.name = "depth_nyu_lora"

if __name__ == "__main__":
    from lava_vision.tasks.depth.params import summary

    print(summary(config))
