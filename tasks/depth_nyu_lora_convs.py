"""Table 4 "LoRA": LoRA on the encoder AND the decoder, conv kernels flattened to c_out x (c_in k k)
(PEFT's way), i.e. the LAVA recipe's targets and ranks with ``adapter.method="lora"``. Flattened
conv factors cost more than CP factors: 1,855,329 trainable on Large here vs 1,137,631 for LAVA
(the paper reports 2.04M for its LoRA row, with unstated ranks).

    python tasks/depth_nyu_lora_convs.py   # print the trainable-parameter count on Large
"""
from pathlib import Path

from lava_vision.train.recipe import load_recipe

config = load_recipe(Path(__file__).with_name("depth_nyu.py"))
config.adapter.method = "lora"
config.adapter.lam = 0.0
config.output.name = "depth_nyu_lora_convs"

if __name__ == "__main__":
    from lava_vision.tasks.depth.params import summary

    print(summary(config))
