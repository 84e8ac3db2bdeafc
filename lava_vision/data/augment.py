"""Albumentations pipelines whose randomness follows the trainer's per-sample seeds.

``albumentations.Compose`` keeps a random generator of its own, seeded from OS entropy and blind
to the torch/numpy/random seeds the trainer sets before loading each sample, so two runs with
one seed augment differently and ``--resume`` cannot replay an epoch. ``seeded_compose`` reseeds
the pipeline from numpy's global RNG on every call, which the trainer has just seeded.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def seeded_compose(ops: list, **kwargs) -> Callable[..., dict]:
    """``albumentations.Compose(ops, **kwargs)``, reseeded from ``np.random`` per call."""
    import albumentations as A

    pipeline = A.Compose(ops, **kwargs)

    def apply(**data):
        pipeline.set_random_seed(int(np.random.randint(0, 2**31 - 1)))
        return pipeline(**data)

    return apply
