"""Recipe of the toy task (engine tests). Registers the toy task itself, so the tools run it as-is."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from toy_task import ToyDataConfig, ToyLossConfig, ToyModelConfig  # noqa: E402

from lava_vision.adapters import AdapterConfig  # noqa: E402
from lava_vision.tasks import TASKS  # noqa: E402
from lava_vision.train.config import EvalConfig, OptimConfig, OutputConfig, RunConfig, ScheduleConfig, TrainConfig  # noqa: E402

TASKS.setdefault("toy", "toy_task:ToyTask")

config = RunConfig(
    task="toy", model=ToyModelConfig(), data=ToyDataConfig(), loss=ToyLossConfig(),
    adapter=AdapterConfig(method="lava", rank=2, alpha=2.0, lam=0.1, targets=["fc1", "fc2"], dropout=0.2),
    optim=OptimConfig(lr=5e-2, weight_decay=0.01, grad_clip=1.0),
    schedule=ScheduleConfig(name="cosine", warmup_steps=2),
    train=TrainConfig(epochs=2, batch_size=4, num_workers=0, log_every=2, seed=0),
    eval=EvalConfig(split="val", batch_size=1, main_metric="mae", mode="min", num_visualize=2),
    output=OutputConfig(root="runs"),
)
