"""Offline demo: LAVA adapts a small Depth-Anything, pretrained on synthetic rooms of distribution A
(small rooms, normal lens, warm palette), to distribution B (larger rooms, wide lens, cool palette,
finer texture). No download: the base is committed under lava_vision/assets/depth_synthetic_base
(made by tools/pretrain_depth_synthetic_base.py).

    python tasks/depth_synthetic.py                 # frozen base on B's test scenes, train, adapted on test
    python tools/train.py tasks/depth_synthetic.py  # training only
"""
from pathlib import Path

import lava_vision
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.depth.config import DepthDataConfig, DepthLossConfig
from lava_vision.tasks.depth.model import DepthModelConfig
from lava_vision.train.config import EvalConfig, OptimConfig, RunConfig, ScheduleConfig, TrainConfig

BASE = Path(lava_vision.__file__).parent / "assets" / "depth_synthetic_base"

config = RunConfig(
    task="depth",
    model=DepthModelConfig(checkpoint=str(BASE)),
    data=DepthDataConfig(source="synthetic", synthetic_train="B", synthetic_eval="B", synthetic_hw=(84, 112),
                         input_size=84, synthetic_train_n=4000, synthetic_eval_n=128, eigen_crop=False),
    # the paper's init (V = 0, orthonormal U, K), with which this lam was chosen; the defaults differ
    adapter=AdapterConfig(method="lava", preset="depth_anything", rank=4, alpha=4.0, lam=0.01,
                          init_cp_zero="V", init_cp="orthonormal"),
    loss=DepthLossConfig(kind="silog", lam=0.5),
    optim=OptimConfig(name="adamw", lr=2e-3, weight_decay=0.01),
    schedule=ScheduleConfig(name="cosine", warmup_steps=20),
    train=TrainConfig(epochs=100, max_steps=600, batch_size=16, num_workers=2, log_every=20),
    # best/ by d1 on "val" scenes; the test scenes (other seeds) are scored once, below
    eval=EvalConfig(split="val", every=0, batch_size=16, main_metric="d1", mode="max", num_visualize=4),
)

if __name__ == "__main__":
    from lava_vision.train import build_base, evaluate, load_trained, train

    task, base = build_base(config)
    before = evaluate(task, base, "test", config.eval.batch_size)
    run_dir = train(config)
    task, adapted = load_trained(config, run_dir / "best")
    after = evaluate(task, adapted, "test", config.eval.batch_size)
    for name, m in (("frozen base (trained on A)", before), ("base + LAVA (adapted to B)", after)):
        print(f"{name:<28} on B test: d1 {m['d1']:.3f}  AbsRel {m['abs_rel']:.3f}  RMSE {m['rmse']:.3f}")
