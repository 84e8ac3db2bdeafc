"""Run configuration: plain dataclasses that hold data, never callables.

A recipe (``tasks/*.py``) builds one ``RunConfig`` and assigns it to a module-level ``config``.
The resolved config of every run is written as JSON and ``RunConfig.from_dict`` rebuilds it:
the task-specific sections (``model``, ``data``, ``loss``) are rebuilt with the dataclasses the
task declares (``Task.model_config_cls`` ...).
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from ..adapters.config import AdapterConfig
from ..json_types import check_json

RESUME_HISTORY = "resumed"  # config.json: what each --resume changed (train/resume.py); not a section


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | sgd
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9  # sgd only
    module_lr: dict[str, float] = field(default_factory=dict)  # module pattern -> lr multiplier
    grad_clip: float = 0.0  # max global grad norm; 0 = off


@dataclass
class ScheduleConfig:
    name: str = "constant"  # constant | cosine | poly | onecycle
    warmup_steps: int = 0
    power: float = 0.9  # poly
    min_lr_ratio: float = 0.0  # cosine / poly floor, as a fraction of the peak lr


@dataclass
class TrainConfig:
    epochs: int = 1
    max_steps: int = 0  # optimiser steps; 0 = run all epochs
    batch_size: int = 4  # per process
    grad_accum: int = 1
    precision: str = "auto"  # auto (bf16 on a GPU that has it, else fp16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16
    seed: int = 0
    num_workers: int = 2
    gradient_checkpointing: bool = False
    find_unused_parameters: bool = False  # DDP: set when some trainable parameters skip the forward
    log_every: int = 10  # steps
    save_every: int = 0  # also save `last/` every N optimiser steps (0 = off); always at each epoch end
    save_every_minutes: float = 10.0  # and whenever this much time passed since the last save (0 = off)
    keep_last: int = 2  # step checkpoints kept: last/ plus the keep_last - 1 before it in checkpoints/
    # Accelerate log_with: tensorboard, wandb, mlflow, ...
    trackers: list[str] = field(default_factory=lambda: ["tensorboard"])
    diagnostics: bool = False  # per-layer gradient variance and orthogonality error to TensorBoard
    # train under torch.compile (HF Trainer's torch_compile): the training forward/backward only (evaluation
    # stays eager); the first step's time, compilation included, is logged as compile_warmup_s
    compile: bool = False
    compile_backend: str = "inductor"  # torch.compile backend: inductor | aot_eager | eager | ...
    compile_mode: str = "default"  # inductor only: default, reduce-overhead, max-autotune, max-autotune-no-cudagraphs
    # time every path of each CP conv left on adapter.conv_path=auto on the first batch and keep the fastest
    # (cudnn.benchmark for adapter paths; adapters.autotune): auto's FLOP rule can miss on a given machine
    tune_conv_paths: bool = False


@dataclass
class EvalConfig:
    split: str = "val"
    every: int = 1  # epochs between evaluations; 0 = only at the end
    every_steps: int = 0  # also evaluate every N optimiser steps (0 = off)
    batch_size: int = 1
    main_metric: str = ""  # selects `best/` on `split`
    mode: str = "max"  # "max" | "min": whether a larger main_metric is better
    select_on_test: bool = False  # allow selecting `best/` on a split named test (refused otherwise)
    max_samples: int = 0  # 0 = the whole split
    num_visualize: int = 4


@dataclass
class OutputConfig:
    root: str = "runs"
    name: str = ""  # run folder name; default: the recipe file's stem


@dataclass
class RunConfig:
    """Everything a run needs. ``task`` names a registered task (``lava_vision.train.task.TASKS``) or a Task class
    of your own as ``"package.module:Class"``."""

    task: str
    model: Any
    data: Any
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    loss: Any = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        """Rebuild a RunConfig from ``to_dict`` output; unknown keys and values of the wrong type are
        refused (ValueError naming the dotted key)."""
        from .task import get_task

        if not isinstance(data, dict) or not isinstance(data.get("task"), str):
            raise ValueError("run config: expected a JSON object with a 'task' name")
        task_cls = get_task(data["task"])
        sections = {
            "model": task_cls.model_config_cls, "data": task_cls.data_config_cls,
            "loss": task_cls.loss_config_cls, "adapter": AdapterConfig, "optim": OptimConfig,
            "schedule": ScheduleConfig, "train": TrainConfig, "eval": EvalConfig, "output": OutputConfig,
        }
        unknown = set(data) - set(sections) - {"task", RESUME_HISTORY}
        if unknown:
            raise ValueError(f"run config: unknown sections {sorted(unknown)}")
        kwargs = {"task": data["task"]}
        for key, klass in sections.items():
            if key in data and data[key] is not None and klass is not None:
                kwargs[key] = dataclass_from_dict(klass, data[key], key)
        return cls(**kwargs)


def dataclass_from_dict(klass: type, data: dict, where: str) -> Any:
    """Build ``klass`` from a dict, recursing into nested dataclasses, each value checked against its
    field's type hint (``json_types.check_json``: JSON lists become tuples where the field is a tuple),
    refusing unknown keys."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of {klass.__name__} fields, got {type(data).__name__}")
    hints = typing.get_type_hints(klass)
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(names)}")
    kwargs = {}
    for k, v in data.items():
        hint = hints.get(k)
        if dataclasses.is_dataclass(hint) and isinstance(v, dict):
            v = dataclass_from_dict(hint, v, f"{where}.{k}")
        elif hint is not None:
            v = check_json(v, hint, f"{where}.{k}")
        kwargs[k] = v
    return klass(**kwargs)
