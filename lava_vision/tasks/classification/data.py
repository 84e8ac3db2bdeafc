"""Datasets of the classification task: arrays (CIFAR, procedural) or an ImageFolder tree,
with albumentations transforms. Samples are ``{"image": 3 x S x S float, "label": int, "id": str}``."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ...data.augment import seeded_compose
from ...data.images import read_rgb
from .config import ClassificationDataConfig, ClassificationModelConfig

SOURCES = ("cifar10", "cifar100", "imagefolder", "procedural")


def build_transform(model_cfg: ClassificationModelConfig, train: bool, hflip: bool) -> Callable:
    """Resize to the model's input size, (train) random flip, normalise, to a CHW tensor."""
    import albumentations as A
    import cv2
    from albumentations.pytorch import ToTensorV2

    size = model_cfg.input_size
    ops = [A.Resize(size, size, interpolation=cv2.INTER_LINEAR)]
    if train and hflip:
        ops.append(A.HorizontalFlip(p=0.5))
    ops += [A.Normalize(mean=model_cfg.mean, std=model_cfg.std, max_pixel_value=255.0), ToTensorV2()]
    return seeded_compose(ops)


class ArrayDataset(Dataset):
    """Images held in memory: ``images`` N x H x W x 3 uint8, ``labels`` N ints."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: list[str],
                 transform: Callable, prefix: str):
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels):
            raise ValueError(f"{prefix}: expected N x H x W x 3 images and N labels, got "
                             f"{images.shape} and {len(labels)}")
        self.images, self.labels, self.classes = images, labels, list(class_names)
        self.transform, self.prefix = transform, prefix

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        image = self.transform(image=self.images[i])["image"]
        return {"image": image, "label": int(self.labels[i]), "id": f"{self.prefix}_{i:06d}"}


class FolderDataset(Dataset):
    """``root/<class>/<image>`` through torchvision's ImageFolder (classes sorted by name)."""

    def __init__(self, root: Path, transform: Callable):
        from torchvision.datasets import ImageFolder

        if not root.is_dir():
            raise FileNotFoundError(f"imagefolder: expected folder {root} with one sub-folder per class")
        self.folder = ImageFolder(str(root), loader=_read_rgb)
        self.classes, self.transform, self.root = self.folder.classes, transform, root

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> dict:
        image, label = self.folder[i]
        path = Path(self.folder.samples[i][0])
        return {"image": self.transform(image=image)["image"], "label": label,
                "id": str(path.relative_to(self.root).with_suffix(""))}


def _read_rgb(path: str) -> np.ndarray:
    return read_rgb(path)  # a truncated or unreadable file raises naming it


def build_dataset(data_cfg: ClassificationDataConfig, model_cfg: ClassificationModelConfig,
                  split: str) -> Dataset:
    """The ``split`` ("train", "val" or "test") of the configured source; every dataset exposes
    ``classes`` (class names in label order)."""
    transform = build_transform(model_cfg, train=split == "train", hflip=data_cfg.hflip)
    if data_cfg.source in ("cifar10", "cifar100"):
        from ...data.cifar import read_cifar

        images, labels, names = read_cifar(data_cfg.root, data_cfg.source, split, data_cfg.cifar_val_size)
        return ArrayDataset(images, labels, names, transform, f"{data_cfg.source}_{split}")
    if data_cfg.source == "procedural":
        from ...data.procedural import SHAPE_CLASSES, render_shapes

        num = data_cfg.train_size if split == "train" else data_cfg.val_size
        images, labels = render_shapes(num, data_cfg.domain, split, data_cfg.seed, data_cfg.image_size)
        return ArrayDataset(images, labels, list(SHAPE_CLASSES), transform, f"{data_cfg.domain}_{split}")
    if data_cfg.source == "imagefolder":
        return FolderDataset(Path(data_cfg.root) / split, transform)
    raise ValueError(f"data.source={data_cfg.source!r}: expected one of {SOURCES}")


def class_names(data_cfg: ClassificationDataConfig, num_classes: int) -> list[str]:
    """Class names without reading the images (metrics may be built before any dataset): the
    procedural shapes, CIFAR's meta file or the ImageFolder train sub-folders; indices otherwise."""
    try:
        if data_cfg.source == "procedural":
            from ...data.procedural import SHAPE_CLASSES

            names = list(SHAPE_CLASSES)
        elif data_cfg.source in ("cifar10", "cifar100"):
            from ...data.cifar import read_class_names

            names = read_class_names(data_cfg.root, data_cfg.source)
        elif data_cfg.source == "imagefolder":
            names = sorted(p.name for p in (Path(data_cfg.root) / "train").iterdir() if p.is_dir())
        else:
            names = []
    except FileNotFoundError:
        names = []
    return names if len(names) == num_classes else [str(i) for i in range(num_classes)]


def collate(samples: list[dict]) -> dict:
    """``{"image": B x 3 x S x S, "label": B long, "id": list[str]}``."""
    return {"image": torch.stack([s["image"] for s in samples]),
            "label": torch.tensor([s["label"] for s in samples], dtype=torch.long),
            "id": [s["id"] for s in samples]}
