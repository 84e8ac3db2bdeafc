"""Evaluation over the Task protocol, correct under several processes.

Each process evaluates its own disjoint share of the split (no padding duplicates, see
``data.eval_loader``) and updates the task's torchmetrics collection; ``compute()`` then sums the
metric states across processes, so the numbers cover every sample exactly once.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import send_to_device
from torch import nn
from tqdm.auto import tqdm

from ..adapters import disable_adapters, injection_state, train_mode
from .build import autocast, distributed_state
from .data import eval_loader


def batch_len(batch: Any) -> int:
    """Number of samples in a collated batch (first tensor's or list's leading size)."""
    values = batch.values() if isinstance(batch, dict) else batch
    for v in values:
        if isinstance(v, torch.Tensor) and v.ndim > 0:
            return v.shape[0]
        if isinstance(v, (list, tuple)):
            return len(v)
    raise ValueError("cannot tell the batch size: the batch holds no tensor or list")


def predictions(task: Any, model: nn.Module, split: str, batch_size: int, max_samples: int = 0, *,
                precision: str = "fp32", desc: str = "") -> Iterator[tuple[dict, Any]]:
    """Yield ``(batch, preds)`` over this process's share of ``split``, model in eval mode, no grad.
    The model's training mode is restored when the iteration ends."""
    state = distributed_state()
    dataset = task.build_dataset(split)
    loader = eval_loader(dataset, task.collate, batch_size, max_samples, state.process_index, state.num_processes)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in tqdm(loader, desc=desc or f"eval {split}", disable=not state.is_main_process,
                              dynamic_ncols=True, leave=False):
                batch = send_to_device(batch, device)
                with autocast(precision, device):
                    preds = task.predict(model, batch)
                yield batch, preds
    finally:
        if was_training:
            train_mode(model)


def _head(obj: Any, n: int) -> Any:
    """The first ``n`` samples of a batch or of predictions (tensors, lists, dicts of them)."""
    if isinstance(obj, dict):
        return {k: _head(v, n) for k, v in obj.items()}
    if isinstance(obj, torch.Tensor) and obj.dim() > 0 or isinstance(obj, list):
        return obj[:n]
    return obj


def base_predictions(task: Any, model: nn.Module, batch: dict, precision: str = "fp32") -> Any | None:
    """The frozen base's predictions of ``batch`` for panels with a base column (a task whose
    ``visualize`` takes ``base_preds``), computed with the adapters bypassed. None when bypassing
    is not the base: no adapter, full fine-tuning, or modules trained in full (``modules_to_save``)."""
    if "base_preds" not in inspect.signature(task.visualize).parameters:
        return None
    try:
        config = injection_state(model).config
    except ValueError:  # no adapter
        return None
    if config.method == "full" or config.modules_to_save:
        return None
    with torch.no_grad(), disable_adapters(model), autocast(precision, next(model.parameters()).device):
        return task.predict(model, batch)


def evaluate(task: Any, model: nn.Module, split: str = "val", batch_size: int = 1, max_samples: int = 0, *,
             precision: str = "fp32", pictures_dir: Path | None = None, num_pictures: int = 0) -> dict[str, float]:
    """Metrics of ``model`` on ``split`` (the first ``max_samples`` samples; 0 = all), as floats.

    Call it on every process of a multi-process run (the metric sync is collective). With
    ``pictures_dir``, the main process also writes ``task.visualize`` panels for the first
    ``num_pictures`` samples.
    """
    state = distributed_state()
    metrics = task.build_metrics().to(next(model.parameters()).device)
    drawn = 0
    for batch, preds in predictions(task, model, split, batch_size, max_samples, precision=precision):
        task.update_metrics(metrics, preds, batch)
        if pictures_dir is not None and state.is_main_process and drawn < num_pictures:
            Path(pictures_dir).mkdir(parents=True, exist_ok=True)
            n = min(batch_len(batch), num_pictures - drawn)
            head = _head(batch, n)
            base = base_predictions(task, model, head, precision)
            task.visualize(head, _head(preds, n), Path(pictures_dir), drawn,
                           **({"base_preds": base} if base is not None else {}))
            drawn += n
    values = metrics.compute()
    if pictures_dir is not None and state.is_main_process and hasattr(task, "summarize"):
        task.summarize(metrics, Path(pictures_dir))  # dataset-level pictures (a confusion matrix)
    metrics.reset()
    return {k: float(v) for k, v in values.items()}
