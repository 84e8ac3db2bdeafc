"""The Task protocol: everything the generic trainer needs from a task, and nothing more, and the
registry of task names.

The trainer never imports a concrete task; it looks the task up with ``get_task`` (a name
registered with ``register_task``, or ``"package.module:Class"`` for a task of your own), which
imports the class only then, checks it with ``check_task_class``, and talks to it only through
this protocol. The packaged tasks register their names when ``lava_vision.tasks`` is imported
(a recipe does, through its task's config classes). Batches are dicts of tensors (plus optional
lists of strings / paths) produced by the task's datasets.
"""
from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from torch.utils.data import Dataset


@runtime_checkable
class Task(Protocol):
    name: str
    model_config_cls: type  # dataclass of RunConfig.model for this task
    data_config_cls: type  # dataclass of RunConfig.data
    loss_config_cls: type | None  # dataclass of RunConfig.loss, or None

    def __init__(self, cfg: Any) -> None:
        """``cfg``: the run's ``RunConfig`` (``lava_vision/train/config.py``)."""

    def build_model(self) -> nn.Module:
        """The base model with its pretrained weights (a missing checkpoint is an error, never a
        silent random init) and any new head. The trainer injects the adapter afterwards.
        Training and prediction must go through this module's ``forward`` (DDP hooks live there)."""

    def build_dataset(self, split: str) -> Dataset:
        """``split`` is "train", "val" or "test"; a missing folder raises FileNotFoundError naming it."""

    def collate(self, samples: list[dict]) -> dict:
        """Batch a list of samples (``torch.utils.data.default_collate`` is fine for most tasks)."""

    def training_step(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        """Losses for one batch; must contain "loss" (the task loss; the trainer adds the
        orthogonal regulariser). Other entries are logged."""

    def predict(self, model: nn.Module, batch: dict) -> Any:
        """Predictions for one batch in eval mode, ready for ``update_metrics``/``visualize``."""

    def build_metrics(self) -> Any:
        """A ``torchmetrics.MetricCollection`` (syncs across processes); ``compute()`` returns
        a flat dict of scalars."""

    def update_metrics(self, metrics: Any, preds: Any, batch: dict) -> None: ...

    def per_sample_metrics(self, preds: Any, batch: dict) -> list[dict[str, float]]:
        """One dict of metrics per sample (with an "id" key), for worst-first CSVs."""

    def visualize(self, batch: dict, preds: Any, out_dir: Path, start_index: int) -> list[Path]:
        """Write one PNG panel per sample into ``out_dir``; return the paths."""

    # Optional, looked up with hasattr (not part of the runtime-checked protocol):
    #   enable_gradient_checkpointing(model) -> None
    #   summarize(metrics, out_dir) -> list[Path]   dataset-level pictures after an evaluation
    #   preprocessing() -> dict                     the eval transform, keys of lava_vision.zoo.Preprocess
    #   describe_weights() -> str | None            where the base weights come from when model.pretrained
    #       does not say it plainly (a zoo card's base_model_id), e.g. "packaged (lava_vision/assets/x)"
    #   predict_image(model, rgb) -> result         one H x W x 3 uint8 RGB image -> its prediction, for
    #       ``Predictor.predict`` (load_run, zoo.load(...).predict, tools/predict.py), called in eval mode
    #       under no_grad; return a ClassProbabilities, DepthMap or BinaryMask (lava_vision.inference) for
    #       tools/predict.py to write its files. The built-in tasks predict without it. docs/custom-tasks.md


class TaskError(ValueError):
    """A task that cannot be used: unknown, not importable, or not a Task; the message says which."""


def protocol_members() -> tuple[list[str], list[str]]:
    """``(attributes, methods)`` a Task class must have, read off the protocol above."""
    attributes = list(Task.__annotations__)
    methods = [n for n, v in vars(Task).items() if callable(v) and not n.startswith("_")]
    return attributes, methods


def check_task_class(cls: Any, where: str) -> None:
    """Raise TaskError naming every protocol member ``cls`` lacks or gets wrong."""
    if not isinstance(cls, type):
        raise TaskError(f"{where}: {cls!r} is not a class")
    attributes, methods = protocol_members()
    problems = [f"class attribute {a}" for a in attributes if not hasattr(cls, a)]
    problems += [f"method {m}()" for m in methods if not callable(getattr(cls, m, None))]
    if hasattr(cls, "name") and not isinstance(cls.name, str):
        problems.append("name must be a str")
    for a in ("model_config_cls", "data_config_cls", "loss_config_cls"):
        value = getattr(cls, a, None)
        if hasattr(cls, a) and not (dataclasses.is_dataclass(value) and isinstance(value, type)
                                    or a == "loss_config_cls" and value is None):
            problems.append(f"{a} must be a dataclass" + (" or None" if a == "loss_config_cls" else ""))
    if problems:
        raise TaskError(f"{where}: {cls.__module__}.{cls.__qualname__} is not a Task: missing or wrong "
                        f"{'; '.join(problems)} (the protocol: lava_vision/train/task.py)")


# task name -> "package.module:Class"; the packaged tasks add theirs in lava_vision/tasks/__init__.py
TASKS: dict[str, str] = {}


def register_task(name: str, target: str) -> None:
    """Make ``task=name`` mean the class at ``target`` (``"package.module:Class"``, imported on first use)."""
    module_name, _, cls_name = target.partition(":")
    if not module_name or not cls_name.isidentifier():
        raise TaskError(f"register_task({name!r}, {target!r}): expected 'package.module:Class'")
    if TASKS.get(name, target) != target:
        raise TaskError(f"register_task({name!r}, {target!r}): {name!r} already names {TASKS[name]!r}")
    TASKS[name] = target


def get_task(name: str) -> type:
    """The task class registered under ``name``, or the class ``name`` points at as ``"module:Class"``."""
    target = TASKS.get(name)
    if target is None:
        if ":" not in name:
            raise KeyError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}, or a Task class of your own "
                           "as task='package.module:Class' (the packaged tasks are known once "
                           "lava_vision.tasks is imported)")
        target = name
    module_name, _, cls_name = target.partition(":")
    if not module_name or not cls_name.isidentifier():
        raise TaskError(f"task={name!r}: expected 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise  # the module exists but imports something missing: its own traceback says what
        raise TaskError(f"task={name!r}: no module named {module_name!r}; install its package or put the "
                        "folder holding it on PYTHONPATH (e.g. PYTHONPATH=. python tools/train.py ...)") from e
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise TaskError(f"task={name!r}: module {module_name!r} ({module.__file__}) has no {cls_name!r}")
    check_task_class(cls, f"task={name!r}")
    return cls
