"""The generic training engine: recipes and overrides, the trainer, evaluation, run-folder checkpoints.

The heavy parts (Accelerate, TensorBoard) are imported on first use, so
``from lava_vision.train.config import RunConfig`` stays light for task code.
"""
from __future__ import annotations

import importlib
from typing import Any

from .config import RunConfig

_LAZY = {
    "load_recipe": "recipe", "apply_overrides": "recipe", "RecipeError": "recipe",
    "build_run": "build", "build_base": "build", "load_trained": "build", "resolve_precision": "build",
    "distributed_state": "build",
    "evaluate": "evaluation", "predictions": "evaluation",
    "train": "trainer", "Trainer": "trainer", "NonFiniteLossError": "trainer", "run_dir_of": "trainer",
    "TrainingInterrupted": "trainer", "check_config": "validate",
    "find_adapter_dir": "checkpoint", "CheckpointError": "checkpoint", "CheckpointWriteError": "checkpoint",
}

__all__ = ["RunConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
