"""Optimiser over the adapter's parameter groups, and learning-rate schedules with warmup.

Every schedule is a multiplier f(step) of each group's peak lr (``LambdaLR``), for step = number of
optimiser steps already taken, T = total steps, W = warmup steps, m = ``min_lr_ratio``:

- warmup (all but onecycle): f = (step + 1) / W for step < W, so the first step already learns;
- after warmup, with progress p = clamp((step - W) / (T - W), 0, 1):
  constant f = 1;  cosine f = m + (1 - m) (1 + cos(pi p)) / 2;  poly f = m + (1 - m) (1 - p)^power;
- onecycle: torch's ``OneCycleLR`` (Smith & Topin, anneal_strategy="cos"): rises over W steps
  (30% of T when W = 0) from 1/25 to 1 along a half cosine, then falls along a half cosine to
  1/(25 * 1e4), or to m when m > 0; momentum (AdamW's beta1, SGD's momentum) cycles the other way,
  from the configured value down to 0.85 of it at the peak lr and back.

The three closed forms are kept here rather than taken from ``transformers.get_scheduler``:
transformers is not a core dependency, and its warmup starts at lr 0 (a wasted first step); the
tests check them against transformers' schedules after warmup.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ..adapters import param_groups
from .config import RunConfig

SCHEDULES = ("constant", "cosine", "poly", "onecycle")
OPTIMIZERS = ("adamw", "sgd")
ONECYCLE_DIV, ONECYCLE_FINAL_DIV, ONECYCLE_MOMENTUM_LOW = 25.0, 1e4, 0.85


@dataclass
class Schedule:
    """Picklable lr multiplier (LambdaLR saves its attributes in the scheduler state)."""

    name: str  # constant | cosine | poly (onecycle is torch's OneCycleLR, see build_scheduler)
    total_steps: int
    warmup_steps: int = 0
    power: float = 0.9
    min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES or self.name == "onecycle":
            raise ValueError(f"schedule.name={self.name!r}: expected one of {SCHEDULES[:3]} (onecycle: OneCycleLR)")
        if self.total_steps <= 0:
            raise ValueError(f"schedule: total steps must be positive, got {self.total_steps}")
        if self.warmup_steps < 0:
            raise ValueError(f"schedule.warmup_steps={self.warmup_steps}: must be >= 0")
        if self.warmup_steps >= self.total_steps:  # e.g. a smoke test with a small train.max_steps
            warnings.warn(f"schedule.warmup_steps={self.warmup_steps} >= total steps {self.total_steps}: "
                          f"warming up over {self.total_steps - 1} steps instead")
            self.warmup_steps = self.total_steps - 1

    def __call__(self, step: int) -> float:
        w = self.warmup_steps
        if step < w:
            return (step + 1) / w
        p = min(max((step - w) / max(self.total_steps - w, 1), 0.0), 1.0)
        m = self.min_lr_ratio
        if self.name == "cosine":
            return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * p))
        if self.name == "poly":
            return m + (1 - m) * (1 - p) ** self.power
        return 1.0


def build_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    """AdamW or SGD over ``param_groups`` (factor/module lr multipliers, no decay on norms/biases)."""
    o = cfg.optim
    groups = param_groups(model, o.lr, o.weight_decay, cfg.adapter.factor_lr, o.module_lr)
    if not groups:
        raise ValueError("no trainable parameters: the adapter config trains nothing "
                         f"(adapter.method={cfg.adapter.method!r}, modules_to_save={cfg.adapter.modules_to_save})")
    if o.name == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
    if o.name == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    raise ValueError(f"optim.name={o.name!r}: expected one of {OPTIMIZERS}")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: RunConfig,
                    total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    s = cfg.schedule
    if s.name == "onecycle":
        return _one_cycle(optimizer, cfg, total_steps)
    fn = Schedule(s.name, total_steps, s.warmup_steps, s.power, s.min_lr_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


def _one_cycle(optimizer: torch.optim.Optimizer, cfg: RunConfig,
               total_steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    s, o = cfg.schedule, cfg.optim
    warmup = s.warmup_steps or max(int(0.3 * total_steps), 1)
    if total_steps < 2 or warmup >= total_steps:
        raise ValueError(f"schedule.name=onecycle needs warmup_steps ({warmup}) < total steps ({total_steps}) and "
                         "at least 2 steps")
    momentum = o.betas[0] if o.name == "adamw" else o.momentum
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total_steps,
        pct_start=warmup / total_steps, anneal_strategy="cos", div_factor=ONECYCLE_DIV,
        # the final lr is initial_lr / final_div_factor = max_lr / (div * final_div)
        final_div_factor=1 / (ONECYCLE_DIV * s.min_lr_ratio) if s.min_lr_ratio > 0 else ONECYCLE_FINAL_DIV,
        cycle_momentum=momentum > 0, base_momentum=ONECYCLE_MOMENTUM_LOW * momentum, max_momentum=momentum)
