"""What ``Predictor.predict`` returns for one input, per task (plain numpy, at the input's own size)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClassProbabilities:
    """classes: the class names; probs: ``C`` float32 softmax probabilities in that order (sum 1)."""

    classes: list[str]
    probs: np.ndarray

    @property
    def index(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def label(self) -> str:
        """The most probable class's name."""
        return self.classes[self.index]

    def as_dict(self) -> dict[str, float]:
        """``{class name: probability}`` in class order."""
        return {c: float(p) for c, p in zip(self.classes, self.probs)}


@dataclass
class DepthMap:
    """depth: ``H x W`` float32 metres at the input image's size, within the task's
    ``[data.min_depth, data.max_depth]``."""

    depth: np.ndarray


@dataclass
class BinaryMask:
    """prob: ``H x W`` float32 foreground probability at the input image's size; ``mask`` is
    ``prob > threshold`` (0.5, as the task's pictures and IoU/BER/Dice counts use)."""

    prob: np.ndarray
    threshold: float = 0.5

    @property
    def mask(self) -> np.ndarray:
        return self.prob > self.threshold


@dataclass
class GeneratedImage:
    """image: ``R x R x 3`` uint8 RGB for ``prompt`` with the sampler noise of ``seed``."""

    image: np.ndarray
    prompt: str
    seed: int
