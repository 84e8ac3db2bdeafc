"""Frozen norm layers: their running statistics belong to the base model (no adapter file holds
them), so an adapted model keeps them in eval mode at every forward, whatever ``model.train()`` set."""
from __future__ import annotations

from torch import nn


def frozen_norms(model: nn.Module, saved_modules: list[str]) -> list[nn.Module]:
    """Norm layers with running statistics, no trainable parameter and outside ``saved_modules``:
    their statistics are part of the frozen base, which no adapter file holds."""
    out = []
    for name, m in model.named_modules():  # never model.modules(): some models assign an attribute `modules`
        if (isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats
                and not any(p.requires_grad for p in m.parameters())
                and not any(name == s or name.startswith(s + ".") for s in saved_modules)):
            out.append(m)
    return out


def keep_eval(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook of a frozen norm layer: whatever ``model.train()`` set, it normalises with
    its running statistics and never updates them."""
    if module.training:
        module.train(False)
