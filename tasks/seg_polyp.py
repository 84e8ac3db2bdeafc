"""SAM vit_b + LAVA on polyps (paper Table 12): Kvasir + CVC-ClinicDB train -> CVC-612 test.
No official validation split: "val" (selects best/) is a seeded 10% of train.csv (data.val_fraction),
disjoint from test. Data layout: datasets/segmentation/README.md. Checkpoint: sam_vit_b_01ec64.pth."""
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.segmentation.config import SamModelConfig, SegDataConfig, SegLossConfig
from lava_vision.train.config import EvalConfig, OptimConfig, RunConfig, TrainConfig

config = RunConfig(
    task="segmentation",
    model=SamModelConfig(arch="vit_b", checkpoint="checkpoints/sam_vit_b_01ec64.pth"),
    data=SegDataConfig(root="datasets/segmentation/polyp",
                       splits={"train": "train.csv", "test": "test.csv"}, image_size=1024),
    # rank 3, alpha 32, orthogonal strength 0.5; "Multiplier lambda = 4" read as LoRA+'s lr ratio
    # of B over A (Hayou et al., which the paper cites); CP conv factors keep the base lr.
    # the paper's init (V = 0, orthonormal U, K), with which this lam was chosen; the defaults differ
    adapter=AdapterConfig(method="lava", preset="sam", rank=3, alpha=32, lam=0.5,
                          init_cp_zero="V", init_cp="orthonormal", factor_lr={"B": 4.0}),
    loss=SegLossConfig(name="structure"),
    optim=OptimConfig(name="adamw", lr=1e-4),
    train=TrainConfig(epochs=30, batch_size=4),
    eval=EvalConfig(split="val", main_metric="sm", mode="max"),
)
