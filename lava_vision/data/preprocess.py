"""What a trained model expects as input: resize + normalisation, described by the task.

A task may provide ``preprocessing() -> dict`` (optional in the Task protocol) with the keys of
``Preprocess``; the zoo and the inference layer turn it into this callable (``task_preprocess``),
so users feed a plain RGB image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

RESIZES = ("square", "shorter_side")
INTERPOLATIONS = ("linear", "cubic")


@dataclass(frozen=True)
class Preprocess:
    """resize: ``square`` (to ``size x size``) or ``shorter_side`` (keep aspect, shorter side to
    ``size``, both sides rounded to a multiple of ``multiple``, as Depth-Anything does).
    mean / std: per-channel normalisation on the 0..1 scale. ``__call__`` maps an RGB
    ``H x W x 3`` uint8 image to the model input ``1 x 3 x h x w`` float32."""

    resize: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    multiple: int = 1
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        if self.resize not in RESIZES:
            raise ValueError(f"preprocessing resize={self.resize!r}: expected one of {RESIZES}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"preprocessing interpolation={self.interpolation!r}: expected one of {INTERPOLATIONS}")
        if self.size < 1 or self.multiple < 1:
            raise ValueError(f"preprocessing size={self.size}, multiple={self.multiple}: must be >= 1")

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        return cls(**{**d, "mean": tuple(d["mean"]), "std": tuple(d["std"])})

    def to_dict(self) -> dict:
        return asdict(self)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` of the model input for an ``height x width`` image."""
        if self.resize == "square":
            return self.size, self.size
        scale = self.size / min(height, width)
        m = self.multiple
        return (max(m, round(height * scale / m) * m), max(m, round(width * scale / m) * m))

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        import cv2

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"preprocess: expected an H x W x 3 uint8 RGB image, got {image.shape} {image.dtype}")
        h, w = self.output_size(*image.shape[:2])
        if (h, w) != image.shape[:2]:
            flag = cv2.INTER_LINEAR if self.interpolation == "linear" else cv2.INTER_CUBIC
            image = cv2.resize(image, (w, h), interpolation=flag)
        # a copy: a decoded PIL image is a read-only array, which torch.from_numpy warns about
        x = torch.from_numpy(np.array(image, order="C")).permute(2, 0, 1).float() / 255.0
        mean = torch.tensor(self.mean, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(3, 1, 1)
        return ((x - mean) / std)[None]

    def describe(self) -> str:
        how = (f"resize to {self.size} x {self.size}" if self.resize == "square" else
               f"resize the shorter side to {self.size} (sides multiples of {self.multiple})")
        return (f"RGB uint8 H x W x 3 -> {how} ({self.interpolation}), scale to 0..1, "
                f"normalise with mean {list(self.mean)} std {list(self.std)} -> 1 x 3 x h x w float32")


def task_preprocess(task: Any) -> Preprocess | None:
    """The task's optional ``preprocessing()`` description as a callable; None when it has none."""
    describe = getattr(task, "preprocessing", None)
    return Preprocess.from_dict(describe()) if describe is not None else None
