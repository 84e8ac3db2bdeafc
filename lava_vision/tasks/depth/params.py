"""Trainable-parameter counts of a depth recipe on the released architecture, without weights.

The model is built from its config on the meta device (no memory, no download), and the
adapter injector's own ``plan`` counts what the recipe's adapter would train.
"""
from __future__ import annotations

import torch

from ...adapters import Plan, plan
from ...train.config import RunConfig
from .model import SIZES, architecture_config


def architecture_plan(cfg: RunConfig, size: str | None = None) -> Plan:
    """What ``cfg.adapter`` trains on Depth-Anything-V2 ``size`` (default ``cfg.model.size``)."""
    from transformers import DepthAnythingForDepthEstimation

    size = size or cfg.model.size
    if size not in SIZES:
        raise ValueError(f"size={size!r}: expected one of {SIZES}")
    with torch.device("meta"):
        model = DepthAnythingForDepthEstimation(architecture_config(size))
    return plan(model, cfg.adapter)


def summary(cfg: RunConfig, size: str | None = None) -> str:
    """One line: method, trainable parameters and their share of the base model."""
    p = architecture_plan(cfg, size)
    return (f"Depth-Anything-V2-{(size or cfg.model.size).capitalize()} + {cfg.adapter.method}: "
            f"{p.trainable_params:,} trainable of {p.base_params:,} ({p.trainable_percent:.2f}%), "
            f"{len(p.rows)} adapted layers")
