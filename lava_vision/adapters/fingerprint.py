"""What an adapter file records about its base model: names, types and shapes of the adapted
layers and saved modules, and a digest of the adapted layers' own base tensors."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .plan_table import Plan


def tensors_digest(named_tensors: Iterable[tuple[str, torch.Tensor]]) -> str:
    """sha256 hex over ``name|dtype|shape|bytes`` of each tensor, in the order given."""
    h = hashlib.sha256()
    for k, v in named_tensors:
        t = v.detach().to("cpu").contiguous()
        h.update(f"{k}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def fingerprint(model: nn.Module, p: Plan, digest: bool = True) -> dict:
    """Names, types and shapes of the adapted layers and saved modules of the base model, and
    ``base_sha256``: a digest of the adapted layers' own base tensors (weights, biases, buffers;
    call before any update is merged into them; None with ``digest=False`` or nothing adapted)."""
    adapted = [(f"{r.name}.{k}", v) for r in p.rows
               for k, v in sorted(model.get_submodule(r.name).state_dict().items())]
    return {
        "model_class": type(model).__name__,
        "adapted": {r.name: {"type": r.layer_type, "shape": r.shape} for r in p.rows},
        "saved": {f"{s}.{k}": list(v.shape) for s in p.saved_modules
                  for k, v in model.get_submodule(s).state_dict().items()},
        "base_sha256": tensors_digest(adapted) if p.rows and digest else None,
    }
