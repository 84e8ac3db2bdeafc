"""Datasets of the classification task: arrays (CIFAR, procedural) or class folders,
with albumentations transforms. Samples are ``{"image": 3 x S x S float, "label": int, "id": str}``."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
    """Images of ``root/<class>/<image>`` (classes sorted by name): all of them, or the ``indices``
    of the folder's sorted listing (a stratified part). With ``corruption`` (name, severity, seed)
    each photo is corrupted before the transform, seeded by its index in the whole listing, so a
    photo looks the same in every split and run."""

    def __init__(self, root: Path, transform: Callable, indices: np.ndarray | None = None,
                 corruption: tuple[str, int, int] | None = None, cache: bool = False):
        from ...data.class_folders import list_class_folder

        paths, labels, self.classes = list_class_folder(root)
        self.index = np.arange(len(paths)) if indices is None else np.asarray(indices)
        self.paths, self.labels, self.root = paths, labels, root
        self.transform, self.corruption = transform, corruption
        self.cache: dict[int, np.ndarray] | None = {} if cache else None  # decoded (and corrupted) photos

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        from ...data.corruptions import corrupt

        k = int(self.index[i])
        image = self.cache.get(k) if self.cache is not None else None
        if image is None:
            image = read_rgb(self.paths[k])  # a truncated or unreadable file raises naming it
            if self.corruption:
                name, severity, seed = self.corruption
                image = corrupt(image, name, severity, seed, k)
            if self.cache is not None:
                self.cache[k] = image
        return {"image": self.transform(image=image)["image"], "label": int(self.labels[k]),
                "id": str(self.paths[k].relative_to(self.root).with_suffix(""))}


def folder_dataset(data_cfg: ClassificationDataConfig, split: str, transform: Callable) -> FolderDataset:
    """``imagefolder``: ``root/<split>/<class>`` or, with ``data.split_sizes``, the ``split`` part of
    the single folder ``root/<class>`` (fixed stratified hold-outs seeded by ``data.split_seed``)."""
    from ...data.corruptions import check_corruption

    corruption = None
    if data_cfg.corruption:
        check_corruption(data_cfg.corruption, data_cfg.severity)
        corruption = (data_cfg.corruption, data_cfg.severity, data_cfg.corruption_seed)
    if not data_cfg.split_sizes:
        return FolderDataset(Path(data_cfg.root) / split, transform, corruption=corruption,
                             cache=data_cfg.cache_images)
    from ...data.class_folders import list_class_folder, part_sizes, stratified_parts

    sizes = dict(zip(("train", "val", "test"), data_cfg.split_sizes))
    if len(data_cfg.split_sizes) != 3 or split not in sizes:
        raise ValueError(f"data.split_sizes={data_cfg.split_sizes!r}: expected (train, val, test) sizes; "
                         f"split {split!r} is not one of them")
    _, labels, _ = list_class_folder(data_cfg.root)
    try:
        counts = part_sizes(sizes, len(labels))
        if sum(counts.values()) > len(labels):
            raise ValueError(f"they need {sum(counts.values())} images")
    except ValueError as e:
        raise ValueError(f"data.split_sizes={tuple(data_cfg.split_sizes)!r} on {data_cfg.root} ({len(labels)} "
                         f"images): {e}; give the parts as fractions of the folder, e.g. "
                         "--set 'data.split_sizes=(0.5,0.1,0.4)'") from None
    parts = stratified_parts(labels, counts, data_cfg.split_seed)
    return FolderDataset(Path(data_cfg.root), transform, parts[split], corruption, data_cfg.cache_images)


def check_folder(data_cfg: ClassificationDataConfig, split: str) -> None:
    """``imagefolder``: the folder ``split`` reads exists, else FileNotFoundError naming ``data.root``
    and how to point it at photos of one's own."""
    root = Path(data_cfg.root) if data_cfg.split_sizes else Path(data_cfg.root) / split
    if root.is_dir():
        return
    layout = f"{root}/<class>/<image>"
    own = ("--set data.root=PATH (PATH/<class>/<image>; data.split_sizes cuts it into train / val / test)"
           if data_cfg.split_sizes else
           "--set data.root=PATH 'data.split_sizes=(0.5,0.1,0.4)' (one folder PATH/<class>/<image>, cut into "
           "train / val / test), or data.root=PATH holding PATH/<split>/<class>/<image>")
    raise FileNotFoundError(f"data.root={data_cfg.root}: {root} does not exist (expected {layout}); "
                            f"for photos of your own: {own}")


def build_dataset(data_cfg: ClassificationDataConfig, model_cfg: ClassificationModelConfig,
                  split: str) -> Dataset:
    """The ``split`` ("train", "val" or "test") of the configured source; every dataset exposes
    ``classes`` (class names in label order)."""
    if data_cfg.source == "imagefolder":
        check_folder(data_cfg, split)  # before the transform's imports: a missing folder is reported at once
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
        return folder_dataset(data_cfg, split, transform)
    raise ValueError(f"data.source={data_cfg.source!r}: expected one of {SOURCES}")


def class_names(data_cfg: ClassificationDataConfig, num_classes: int,
                weights_classes: list[str] | None = None) -> list[str]:
    """Class names without reading the images (metrics may be built before any dataset): the
    procedural shapes, CIFAR's meta file or the class sub-folders (of the single folder, else of the
    first of train/, val/, test/ that exists); where the data is not there (predicting with a recipe
    whose data lives elsewhere), ``weights_classes``, the classes of the pretrained head the model
    keeps; indices otherwise."""
    try:
        if data_cfg.source == "procedural":
            from ...data.procedural import SHAPE_CLASSES

            names = list(SHAPE_CLASSES)
        elif data_cfg.source in ("cifar10", "cifar100"):
            from ...data.cifar import read_class_names

            names = read_class_names(data_cfg.root, data_cfg.source)
        elif data_cfg.source == "imagefolder":
            from ...data.class_folders import list_class_folder

            roots = [Path(data_cfg.root)] if data_cfg.split_sizes else \
                [Path(data_cfg.root) / s for s in ("train", "val", "test") if (Path(data_cfg.root) / s).is_dir()]
            names = list_class_folder(roots[0])[2] if roots else []
        else:
            names = []
    except FileNotFoundError:
        names = []
    if len(names) == num_classes:
        return names
    return list(weights_classes) if weights_classes and len(weights_classes) == num_classes \
        else [str(i) for i in range(num_classes)]


def collate(samples: list[dict]) -> dict:
    """``{"image": B x 3 x S x S, "label": B long, "id": list[str]}``."""
    return {"image": torch.stack([s["image"] for s in samples]),
            "label": torch.tensor([s["label"] for s in samples], dtype=torch.long),
            "id": [s["id"] for s in samples]}
