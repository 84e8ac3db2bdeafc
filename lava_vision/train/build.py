"""Build a run's pieces from a RunConfig: task + base model + adapter, or a trained adapter reloaded."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..adapters import AdapterConfigError, AdapterFileError, Plan, inject, load_adapter, read_adapter_config
from ..json_types import read_json_file
from .checkpoint import find_adapter_dir
from .config import RunConfig
from .task import get_task

if TYPE_CHECKING:
    from accelerate import PartialState

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def build_run(cfg: RunConfig, task: object | None = None) -> tuple[object, nn.Module, Plan]:
    """``(task, model, plan)``: the task (``task`` if given), its base model (pretrained weights)
    with the adapter injected."""
    task, model = build_base(cfg, task)
    plan = inject(model, cfg.adapter)
    return task, model, plan


def build_base(cfg: RunConfig, task: object | None = None) -> tuple[object, nn.Module]:
    """``(task, model)``: the base model without any adapter (the "before" of a comparison)."""
    task = task if task is not None else get_task(cfg.task)(cfg)
    return task, task.build_model()


def load_trained(cfg: RunConfig, adapter_dir: str | os.PathLike) -> tuple[object, nn.Module]:
    """``(task, model)``: the base model with the adapter of ``adapter_dir`` (a run or adapter folder).

    An adapter trained for another task or model is refused naming both, before the base is built
    when the recorded task differs, before any layer-pattern error otherwise."""
    directory = find_adapter_dir(adapter_dir)
    doc = read_adapter_config(directory)
    recorded_task = (doc.get("metadata") or {}).get("task")
    if recorded_task and recorded_task != cfg.task:
        raise AdapterFileError(_mismatch(directory, doc, cfg))
    task, model = build_base(cfg)
    try:
        load_adapter(model, directory)
    except (AdapterFileError, AdapterConfigError) as e:
        recorded = _run_model_section(directory)
        if recorded is not None and recorded != json.loads(json.dumps(dataclasses.asdict(cfg.model))):
            raise AdapterFileError(f"{_mismatch(directory, doc, cfg, model)} ({e})") from e
        raise
    return task, model


def enable_gradient_checkpointing(task: object, model: nn.Module) -> None:
    """Ask the task first, then the model (transformers/diffusers API); warn if neither can."""
    if hasattr(task, "enable_gradient_checkpointing"):
        task.enable_gradient_checkpointing(model)
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable()
    else:
        warnings.warn(f"train.gradient_checkpointing=True, but neither the task nor {type(model).__name__} "
                      "supports it; training without it")


def _run_model_section(directory: Path) -> dict | None:
    """The ``model`` section of the run that wrote ``directory`` (its ``config.json``), if there is one."""
    path = directory.parent / "config.json"
    try:
        section = read_json_file(path).get("model")
    except (OSError, ValueError, AttributeError):  # JsonFileError is a ValueError
        return None
    return section if isinstance(section, dict) else None


def describe_base(model_section: dict, weights: str | None = None) -> str:
    """The base's identity from the (portable) model section: library / name / arch and its
    weights source (checkpoint or pretrained; size and scene when neither is set). ``weights``,
    the task's own word on where they come from (``Task.describe_weights``, e.g. "packaged
    (lava_vision/assets/x.safetensors)" for ``pretrained='hub'`` weights shipped in the package),
    replaces ``pretrained=...``."""
    keys = ["library", "name", "arch"]
    sources = [k for k in ("checkpoint", "pretrained") if model_section.get(k)]
    keys += sources or ["size", "scene"]
    if weights and "pretrained" in keys:
        keys.remove("pretrained")
    said = [f"{k}={model_section[k]}" for k in keys if model_section.get(k) not in (None, "")]
    return " ".join(said + ([f"weights={weights}"] if weights else []))


def _mismatch(directory: Path, doc: dict, cfg: RunConfig, model: nn.Module | None = None) -> str:
    recorded = _run_model_section(directory)
    was = " ".join(filter(None, [describe_base(recorded) if recorded else "",
                                 f"({doc['fingerprint'].get('model_class')})"]))
    now = " ".join(filter(None, [describe_base(dataclasses.asdict(cfg.model)) if dataclasses.is_dataclass(cfg.model)
                                 else "", f"({type(model).__name__})" if model is not None else ""]))
    return (f"{directory}: this adapter does not fit the recipe: the adapter file records task "
            f"{(doc.get('metadata') or {}).get('task', '?')!r}, model {was}, "
            f"while the recipe builds task {cfg.task!r}, "
            f"model {now}; give the recipe the adapter was trained with (its run's config.json records it)")


def distributed_state() -> PartialState:
    """This process's place in a (possibly) multi-process run. ``cpu=True`` without a GPU: Accelerate
    otherwise treats a CPU-only ``torchrun`` launch as N independent single processes."""
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 on a GPU that has it, fp16 on other GPUs, fp32 elsewhere. Returns fp32|bf16|fp16."""
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision={precision!r}: expected one of {PRECISIONS}")
    on_gpu = device.type == "cuda"
    if precision == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if on_gpu else "fp32"
    if precision == "fp16" and not on_gpu:
        raise ValueError("train.precision=fp16 needs a GPU; use fp32 or bf16 on CPU")
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
