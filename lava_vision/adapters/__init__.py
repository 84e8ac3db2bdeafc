"""LAVA adapters: CP conv updates, LoRA-form linear updates, the orthogonal regulariser,
the registry-driven injector and adapter files. Depends on torch and safetensors only."""
from .adapter_set import AdapterSet
from .base import AdapterLayer
from .config import AdapterConfig, AdapterConfigError
from .conv_cp import CPConv, choose_path
from .conv_lora import FlatLoRAConv
from .hotswap import hotswap_adapter
from .injector import Plan, adapter_layers, disable_adapters, injection_state, merge, plan, train_mode, unload, unmerge
from .io import AdapterFileError, load_adapter, read_adapter_config, save_adapter
from .linear import LoRALinear
from .named import active_adapters, adapter_memory, adapter_names, check_mix, delete_adapter, inject, set_adapter
from .param_groups import param_groups
from .registry import register
from .regularizer import orthogonal_penalty
from .targets import PRESETS

__all__ = [
    "AdapterConfig", "AdapterConfigError", "AdapterFileError", "AdapterLayer", "AdapterSet", "CPConv",
    "FlatLoRAConv", "LoRALinear", "PRESETS", "Plan", "active_adapters", "adapter_layers", "adapter_memory",
    "adapter_names", "check_mix", "choose_path", "delete_adapter", "disable_adapters", "hotswap_adapter", "inject",
    "injection_state", "load_adapter", "merge", "orthogonal_penalty", "param_groups", "plan",
    "read_adapter_config", "register", "save_adapter", "set_adapter", "train_mode", "unload", "unmerge",
]
