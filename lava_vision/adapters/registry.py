"""One registry: (adapter method, layer type) -> builder of the adapter layer."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .base import AdapterLayer
from .config import AdapterConfig
from .conv_cp import CPConv
from .conv_lora import FlatLoRAConv
from .linear import LoRALinear


@dataclass
class LayerSettings:
    """The resolved settings of one layer after overrides: rank, alpha, lam, fused chunks."""

    rank: int
    alpha: float
    lam: float
    fused: tuple[int, list[int]] | None = None


Builder = Callable[[nn.Module, LayerSettings, AdapterConfig], AdapterLayer]
_REGISTRY: dict[tuple[str, type], Builder] = {}

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
              nn.ConvTranspose3d)


def register(method: str, layer_type: type) -> Callable[[Builder], Builder]:
    """Register the adapter builder for ``layer_type`` (and its subclasses) under ``method``."""
    def wrap(fn: Builder) -> Builder:
        _REGISTRY[(method, layer_type)] = fn
        return fn
    return wrap


def find_builder(method: str, layer: nn.Module) -> Builder | None:
    """The builder for this layer's type, most specific class first (subclasses are matched)."""
    for cls in type(layer).__mro__:
        fn = _REGISTRY.get((method, cls))
        if fn is not None:
            return fn
    return None


def supported_types(method: str) -> list[str]:
    return sorted(t.__name__ for m, t in _REGISTRY if m == method)


def _cp_conv(layer, s: LayerSettings, cfg: AdapterConfig) -> AdapterLayer:
    return CPConv(layer, s.rank, s.alpha, cfg.scale(s.rank, s.alpha), s.lam,
                  regularize=cfg.regularize_conv if s.lam > 0 else [], path=cfg.conv_path,
                  init_zero=cfg.init_cp_zero, init=cfg.init_cp)


def _flat_conv(layer, s: LayerSettings, cfg: AdapterConfig) -> AdapterLayer:
    return FlatLoRAConv(layer, s.rank, s.alpha, cfg.scale(s.rank, s.alpha), 0.0, path=cfg.conv_path,
                        init_zero=cfg.init_lora_zero, init=cfg.lora_init_scheme())


def _linear(method: str) -> Builder:
    def build(layer, s: LayerSettings, cfg: AdapterConfig) -> AdapterLayer:
        lam = s.lam if method == "lava" else 0.0
        return LoRALinear(layer, s.rank, s.alpha, cfg.scale(s.rank, s.alpha), lam,
                          regularize=cfg.regularize_linear if lam > 0 else [], fused=s.fused,
                          dropout=cfg.dropout, method=method, init_zero=cfg.init_lora_zero,
                          init=cfg.lora_init_scheme())
    return build


for _t in CONV_TYPES:
    register("lava", _t)(_cp_conv)
    register("lora", _t)(_flat_conv)
register("lava", nn.Linear)(_linear("lava"))
register("lora", nn.Linear)(_linear("lora"))
