"""Reading a classifier's weights file (safetensors, or a ``torch.save`` state dict read with
``weights_only=True``), shared by every classification model builder."""
from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["read_state_dict"]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a ``torch.save`` file (``weights_only=True``);
    a ``{"state_dict": ...}`` / ``{"model": ...}`` wrapper is unwrapped."""
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained: weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for non-tensor pickles
        raise ValueError(f"{path}: not a plain tensor checkpoint (read with weights_only=True): {e}") from e
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict of tensors")
    return obj
