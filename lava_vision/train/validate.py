"""Check every config value that can be checked without building the model, before anything is
built or written: a typo must cost a second, not a model load (or a training run).

``check_config(cfg)`` checks the engine's sections (train, optim, schedule, eval, adapter) and
calls the optional ``validate()`` of the task's own sections (``model``, ``data``, ``loss``: their
ranges, e.g. an image side, with ``check_int`` / ``check_image_side`` / ``check_model_id``);
``check_task_config(cfg, task)`` the values that need the task object, e.g. ``eval.main_metric``
against the metric names the task declares (optional ``Task.metric_names()``).
A zoo entry's stored config goes through ``check_config`` too: a config from elsewhere.
"""
from __future__ import annotations

import math
import re
from typing import Any

from ..adapters import PRESETS
from ..json_types import is_int, is_number
from ..names import is_safe_name, name_rule
from .config import RunConfig
from .recipe import RecipeError

EVAL_MODES = ("max", "min")
MAX_IMAGE_SIDE = 8192  # pixels: a sane bound for any image side a config sets (SDXL trains at 1024)
# a library's model name or a hub id (``resnet18``, ``org/name``, timm's ``hf-hub:org/name``): never a path
MODEL_ID_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_-]*:)?[A-Za-z0-9][A-Za-z0-9._+-]*(?:/[A-Za-z0-9][A-Za-z0-9._+-]*)?$")


def check_int(key: str, value: Any, low: int, high: int) -> None:
    """RecipeError naming ``key`` unless ``value`` is an integer in [low, high]."""
    if not is_int(value) or not low <= value <= high:
        raise RecipeError(f"{key}={value!r}: expected an integer in [{low}, {high}]")


def check_image_side(key: str, value: Any) -> None:
    """An image side in pixels: an integer in [1, MAX_IMAGE_SIDE]."""
    check_int(key, value, 1, MAX_IMAGE_SIDE)


def check_model_id(key: str, value: Any) -> None:
    """A model name or hub id (``MODEL_ID_RE``, at most 200 characters); a path is refused."""
    if not isinstance(value, str) or len(value) > 200 or not MODEL_ID_RE.fullmatch(value):
        raise RecipeError(f"{key}={value!r}: expected a model name or hub id (letters, digits, '.', '_', '-', "
                          "'+'; 'org/name' or 'prefix:org/name'), not a path")


def _positive_int(key: str, value: Any, minimum: int = 1) -> None:
    if not is_int(value) or value < minimum:
        raise RecipeError(f"{key}={value!r}: expected an integer >= {minimum}")


def _number(key: str, value: Any, low: float = 0.0, high: float = math.inf, low_open: bool = False,
            high_open: bool = False) -> None:
    ok = is_number(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
        raise RecipeError(f"{key}={value!r}: expected a finite number in {lo}{low:g}, {high:g}{hi}")


def _one_of(key: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise RecipeError(f"{key}={value!r}: expected one of {', '.join(repr(c) for c in choices)}")


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def check_config(cfg: RunConfig, trackers: bool = True) -> None:
    """Raise RecipeError / AdapterConfigError naming the first bad key; needs no model, data or task.
    ``trackers=False`` skips ``train.trackers`` (a stored config only loaded for inference logs nothing)."""
    from .build import PRECISIONS
    from .optim import OPTIMIZERS, SCHEDULES

    t, o, s, e = cfg.train, cfg.optim, cfg.schedule, cfg.eval
    _positive_int("train.epochs", t.epochs, 0)
    _positive_int("train.max_steps", t.max_steps, 0)
    if t.epochs == 0 and t.max_steps == 0:
        raise RecipeError("train.epochs=0 and train.max_steps=0: nothing to train; set one of them")
    _positive_int("train.batch_size", t.batch_size)
    _positive_int("train.grad_accum", t.grad_accum)
    _one_of("train.precision", t.precision, PRECISIONS)
    _positive_int("train.num_workers", t.num_workers, 0)
    _positive_int("train.log_every", t.log_every)
    _positive_int("train.save_every", t.save_every, 0)
    _number("train.save_every_minutes", t.save_every_minutes)
    _positive_int("train.keep_last", t.keep_last)
    _one_of("train.compile_mode", t.compile_mode, COMPILE_MODES)
    if t.compile:
        import torch._dynamo

        _one_of("train.compile_backend", t.compile_backend, tuple(torch._dynamo.list_backends(exclude_tags=())))
    if t.compile_mode != "default" and t.compile_backend != "inductor":
        raise RecipeError(f"train.compile_mode={t.compile_mode!r} needs train.compile_backend='inductor' "
                          f"(got {t.compile_backend!r})")
    if trackers:
        check_trackers(t.trackers)

    _one_of("optim.name", o.name, OPTIMIZERS)
    _number("optim.lr", o.lr, low_open=True)
    _number("optim.weight_decay", o.weight_decay)
    _number("optim.grad_clip", o.grad_clip)
    _number("optim.momentum", o.momentum, high=1.0, high_open=True)
    for i, beta in enumerate(o.betas):
        _number(f"optim.betas[{i}]", beta, high=1.0, high_open=True)
    for pattern, mult in o.module_lr.items():
        _number(f"optim.module_lr[{pattern!r}]", mult, low_open=True)

    _one_of("schedule.name", s.name, SCHEDULES)
    _positive_int("schedule.warmup_steps", s.warmup_steps, 0)
    _number("schedule.power", s.power, low_open=True)
    _number("schedule.min_lr_ratio", s.min_lr_ratio, high=1.0, high_open=True)

    _one_of("eval.mode", e.mode, EVAL_MODES)
    _positive_int("eval.every", e.every, 0)
    _positive_int("eval.every_steps", e.every_steps, 0)
    _positive_int("eval.batch_size", e.batch_size)
    _positive_int("eval.max_samples", e.max_samples, 0)
    _positive_int("eval.num_visualize", e.num_visualize, 0)
    if not isinstance(e.main_metric, str):
        raise RecipeError(f"eval.main_metric={e.main_metric!r}: expected a metric name")

    name = cfg.output.name or cfg.task  # the run folder's name under output.root (trainer.run_dir_of)
    if not is_safe_name(name):
        raise RecipeError(f"output.name={cfg.output.name!r}" + ("" if cfg.output.name else f" (task {cfg.task!r})")
                          + f": the run folder's name must be {name_rule()}, so the run stays inside "
                          f"output.root={cfg.output.root!r}")

    for section in (cfg.model, cfg.data, cfg.loss):  # the task's own ranges (its config classes)
        validate = getattr(section, "validate", None)
        if callable(validate) and not isinstance(section, dict):
            validate()

    cfg.adapter.validate()
    if cfg.adapter.preset is not None and cfg.adapter.preset not in PRESETS:
        raise RecipeError(f"adapter.preset={cfg.adapter.preset!r}: unknown; known presets: {sorted(PRESETS)}")


def check_trackers(trackers: list[str]) -> None:
    """Every name is an Accelerate tracker whose package is installed (Accelerate itself would
    silently skip a missing one)."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers

    available = sorted(str(x) for x in get_available_trackers())
    for name in trackers:
        if name not in LOGGER_TYPE_TO_CLASS:
            raise RecipeError(f"train.trackers: {name!r} is not an Accelerate tracker; known: "
                              f"{sorted(LOGGER_TYPE_TO_CLASS)}")
        if name not in available:
            raise RecipeError(f"train.trackers: {name!r} is not installed (pip install {name}); "
                              f"installed: {available}")


def check_task_config(cfg: RunConfig, task: Any) -> None:
    """``eval.main_metric`` among ``task.metric_names()`` when the task declares them (a task that
    does not is checked at its first evaluation, after ``last/`` is saved)."""
    main = cfg.eval.main_metric
    if main and hasattr(task, "metric_names"):
        names = list(task.metric_names())
        if main not in names:
            raise RecipeError(f"eval.main_metric={main!r}: not a metric of task {cfg.task!r}; "
                              f"its metrics: {', '.join(names)}")
