"""Offline end-to-end check: a tiny SAM from segment-anything's classes on generated shapes.
First: .venv/bin/python -m lava_vision.tasks.segmentation.tiny runs/tiny_sam.pth"""
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.segmentation.config import SamModelConfig, SegDataConfig, SegLossConfig
from lava_vision.tasks.segmentation.tiny import TINY
from lava_vision.train.config import EvalConfig, OptimConfig, RunConfig, TrainConfig

config = RunConfig(
    task="segmentation",
    model=SamModelConfig(arch="custom", checkpoint="runs/tiny_sam.pth", custom=TINY),
    data=SegDataConfig(root="runs/data/seg_synthetic", splits={"train": "train", "val": "val"}, image_size=64,
                       synthetic=32),
    # the paper's init (V = 0, orthonormal U, K), with which this lam was chosen; the defaults differ
    adapter=AdapterConfig(method="lava", preset="sam", rank=3, alpha=32, lam=0.1,
                          init_cp_zero="V", init_cp="orthonormal"),
    loss=SegLossConfig(name="structure"),
    optim=OptimConfig(name="adamw", lr=3e-3),
    train=TrainConfig(epochs=3, batch_size=4, num_workers=0),
    eval=EvalConfig(split="val", main_metric="sm", mode="max", batch_size=8, num_visualize=4),
)
