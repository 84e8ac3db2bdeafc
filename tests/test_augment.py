"""Augmentation follows the per-sample seeds the trainer sets (albumentations keeps its own RNG)."""
import albumentations as A
import numpy as np

from lava_vision.data.augment import seeded_compose


def test_seeded_compose_follows_numpy_seed():
    t = seeded_compose([A.HorizontalFlip(p=0.5), A.RandomCrop(4, 4)])
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    first = []
    for _ in range(2):
        np.random.seed(123)
        first.append(t(image=img)["image"])
    assert np.array_equal(first[0], first[1])
    np.random.seed(7)
    others = [t(image=img)["image"] for _ in range(8)]
    assert any(not np.array_equal(o, first[0]) for o in others)  # it is still random
