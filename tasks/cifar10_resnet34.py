"""Paper section 3 / appendix A.4 toy experiment on resnet34 (torchvision): the settings of
tasks/cifar10_resnet18.py (rank 3, lam 0, AdamW lr 1e-3, betas (0.9, 0.999), weight decay 0) with
this network and its new 10-way head ``fc`` trained in full.

    python tools/train.py tasks/cifar10_resnet34.py                            # LAVA
    python tools/train.py tasks/cifar10_resnet34.py --set adapter.method=lora  # reshape-involved LoRA
    python tools/train.py tasks/cifar10_resnet34.py --set adapter.method=full  # full fine-tuning
Offline: ``--set model.pretrained=/path/to/the official torchvision resnet34 .pth``.

    python tasks/cifar10_resnet34.py      # print the LAVA and LoRA plans' parameter counts
"""
from pathlib import Path

from lava_vision.train.recipe import load_recipe

config = load_recipe(Path(__file__).with_name("cifar10_resnet18.py"))
config.model.name, config.model.library = "resnet34", "torchvision"
config.adapter.modules_to_save = ["fc"]
config.output.name = "cifar10_resnet34"

if __name__ == "__main__":
    from lava_vision.tasks.classification.params import compare_plans

    print(compare_plans(config))
