"""Optimiser parameter groups: per-factor (LoRA+-style) and per-module learning-rate multipliers,
weight decay off for biases, norms and other 1-D parameters."""
from __future__ import annotations

from torch import nn

from .injector import adapter_layers
from .targets import matches


def param_groups(model: nn.Module, lr: float, weight_decay: float,
                 factor_lr: dict[str, float] | None = None,
                 module_lr: dict[str, float] | None = None) -> list[dict]:
    """Trainable parameters grouped by (learning rate, weight decay).

    factor_lr: factor kind (U, V, K, A, B) -> multiplier, for adapter factors.
    module_lr: pattern on the owning module's qualified name -> multiplier (e.g. ``{"head.*": 10}``);
        the later matching pattern wins. Both multipliers multiply.
    Returns a list of ``{"params", "lr", "weight_decay", "name"}`` dicts for any torch optimiser.
    """
    factor_lr, module_lr = factor_lr or {}, module_lr or {}
    kinds = {}  # by tensor identity: a named adapter's factors sit under its AdapterSet's key
    for _, layer in adapter_layers(model):
        for pname, kind in layer.factor_names.items():
            kinds[id(getattr(layer, pname))] = kind
    modules = dict(model.named_modules())
    groups: dict[tuple[float, float], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owner_name = name.rpartition(".")[0]
        owner = modules.get(owner_name)
        mult = 1.0
        kind = kinds.get(id(p))
        if kind is not None:
            mult *= factor_lr.get(kind, 1.0)
        mult_mod = 1.0
        for pattern, m in module_lr.items():  # the later matching pattern wins
            if owner is not None and matches(pattern, owner_name, owner):
                mult_mod = m
        mult *= mult_mod
        no_decay = kind is None and (p.ndim <= 1 or isinstance(owner, (nn.modules.batchnorm._NormBase,
                                                                         nn.LayerNorm, nn.GroupNorm)))
        wd = 0.0 if no_decay else weight_decay
        key = (lr * mult, wd)
        g = groups.setdefault(key, {"params": [], "lr": key[0], "weight_decay": wd,
                                    "name": f"lr{key[0]:.3g}_wd{wd:g}"})
        g["params"].append(p)
    return list(groups.values())
