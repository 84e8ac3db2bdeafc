"""Hot swap: replace a loaded adapter's weights by another adapter's of the same shapes, in place.

The factors (and saved modules) are ``copy_``'d into the tensors the model already holds: no
module is built or replaced, so a ``torch.compile``d model keeps its compiled graph (the
graph reads the factor tensors; their values are not guarded). What the graph does bake in is
every Python number on the adapter layers, the scale s = alpha / R above all, and the module
structure: an adapter whose layers, ranks, scales, fused chunks, paths or dropout differ is
refused (load it under another name instead). Training-only settings (lam, the regularised
factors, inits, factor learning rates) may differ; the loaded adapter keeps its own.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .io import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    AdapterFileError,
    adapter_state_dict,
    check_base_digest,
    check_finite,
    check_tensors,
    compare_fingerprints,
    copy_into,
    read_adapter,
)
from .state import injection_state

# settings that change nothing a forward pass computes with (checked equal: everything else)
TRAINING_ONLY = ("lam", "regularize_conv", "regularize_linear", "factor_lr", "init_cp_zero", "init_cp",
                 "init_lora_zero", "init_lora")


def hotswap_adapter(model: nn.Module, source: str | os.PathLike | dict[str, torch.Tensor], name: str | None = None,
                    strict_base: bool = False) -> nn.Module:
    """Copy the adapter in ``source`` into adapter ``name`` (the only or only active one when
    omitted) of ``model``, in place.

    source: an adapter folder (its config and fingerprint are checked as ``load_adapter`` does),
    or a state dict in the file's key layout (``{layer}.{factor}``, ``{saved module}.{key}``),
    whose keys, shapes and dtypes are checked. A merged adapter is unmerged, swapped and merged
    again. Raises AdapterFileError, model unchanged, on any difference in structure."""
    state = injection_state(model, name)
    if isinstance(source, (str, os.PathLike)):
        directory = Path(source)
        doc, cfg, tensors = read_adapter(directory)
        where = str(directory / CONFIG_NAME)
        have, want = state.config.to_dict(), cfg.to_dict()
        for key in sorted(set(have) | set(want)):
            if key not in TRAINING_ONLY and have.get(key) != want.get(key):
                raise AdapterFileError(f"{where}: hot swap needs the same layers, ranks and scales as adapter "
                                       f"{state.name!r}, but adapter.{key} is {want.get(key)!r} there and "
                                       f"{have.get(key)!r} here (a compiled model would recompile); load it "
                                       "under another name instead")
        compare_fingerprints(doc["fingerprint"], state.fingerprint, where)
        check_base_digest(doc["fingerprint"], state.fingerprint, where, strict_base)
        where = str(directory / WEIGHTS_NAME)
    else:
        tensors, where = dict(source), "hot-swap state dict"
        check_finite(tensors, where)
    targets = adapter_state_dict(model, state.name)
    check_tensors(tensors, targets, where)
    copy_into(model, state.name, tensors, targets)
    return model
