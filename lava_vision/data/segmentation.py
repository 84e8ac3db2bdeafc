"""Binary segmentation data: image/mask pairs from ``images/`` + ``masks/`` folders (matched by
file stem) or from CSV files with ``image,label`` columns (Conv-LoRA's layout), read with OpenCV
and augmented jointly with albumentations (masks resized with nearest neighbour).

A sample is ``{"image": 3 x H x W float RGB in [0, 1], "mask": 1 x H x W float {0, 1},
"id": file stem, "path": image path}``, plus ``"mask_native"`` (the {0, 1} uint8 mask at the
file's own H0 x W0) for evaluation datasets that score at native size. Masks are binarised by
one rule (``binarize_mask``): ``> 128`` of 255, as PySODMetrics, or ``== 1`` for a file holding
only 0 and 1. Bad input (an image without a mask, a mask of another size, an unreadable file, a
CSV without the right columns) raises an error naming the file.

``holdout`` draws a seeded validation fraction from a training list for datasets without an
official validation split.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import seeded_compose
from .images import read_gray, read_rgb

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def _by_stem(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_EXTS or not p.is_file():
            continue
        if p.stem in files:
            raise ValueError(f"{folder}: two files share the stem {p.stem!r}: {files[p.stem].name}, {p.name}")
        files[p.stem] = p
    return files


def pairs_from_folders(folder: str | Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs from ``folder/images`` and ``folder/masks``, matched by file stem."""
    folder = Path(folder)
    img_dir, mask_dir = folder / "images", folder / "masks"
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"segmentation data: folder {d} not found "
                                    f"(expected images/ and masks/ under {folder})")
    images, masks = _by_stem(img_dir), _by_stem(mask_dir)
    lonely = sorted(set(images) - set(masks))
    if lonely:
        raise FileNotFoundError(f"{img_dir}: {len(lonely)} image(s) without a mask in {mask_dir}, "
                                f"e.g. {images[lonely[0]].name}")
    extra = sorted(set(masks) - set(images))
    if extra:
        raise FileNotFoundError(f"{mask_dir}: {len(extra)} mask(s) without an image in {img_dir}, "
                                f"e.g. {masks[extra[0]].name}")
    if not images:
        raise FileNotFoundError(f"{img_dir}: no images ({', '.join(sorted(IMAGE_EXTS))})")
    return [(images[s], masks[s]) for s in sorted(images)]


def pairs_from_csv(path: str | Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs from a CSV with ``image`` and ``label`` columns, paths relative to the
    CSV's folder (absolute paths are kept)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"segmentation data: CSV file {path} not found")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        if "image" not in cols or "label" not in cols:
            raise ValueError(f"{path}: expected columns 'image' and 'label', found {cols}")
        rows = list(reader)
    pairs = []
    for i, row in enumerate(rows, start=2):  # line numbers as an editor shows them
        img, mask = path.parent / row["image"], path.parent / row["label"]
        for p in (img, mask):
            if not p.is_file():
                raise FileNotFoundError(f"{path}, line {i}: file {p} not found")
        pairs.append((img, mask))
    if not pairs:
        raise ValueError(f"{path}: no rows")
    return pairs


def binarize_mask(mask: np.ndarray, threshold: int = 128) -> np.ndarray:
    """{0, 1} uint8 from a greyscale uint8 mask: ``mask > threshold`` (128: PySODMetrics'
    ``gt > 128``), except a mask whose values all lie in {0, 1}, which is read as binary as is."""
    if mask.size and int(mask.max()) <= 1:
        return (mask > 0).astype(np.uint8)
    return (mask > threshold).astype(np.uint8)


def read_pair(image_path: Path, mask_path: Path, threshold: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 H x W x 3 and a {0, 1} uint8 H x W mask (``binarize_mask``)."""
    image, mask = read_rgb(image_path), read_gray(mask_path)  # truncated / unreadable files raise
    if image.shape[:2] != mask.shape:
        raise ValueError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {image_path} is "
                         f"{image.shape[1]}x{image.shape[0]} (W x H)")
    return image, binarize_mask(mask, threshold)


def holdout(pairs: list[tuple[Path, Path]], fraction: float, seed: int = 0
            ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    """``(rest, held_out)``: a seeded ``fraction`` of ``pairs`` (at least one, never all) held out
    for validation. The draw depends only on the image paths, ``fraction`` and ``seed`` (not on
    the list's order or the training seed), so train and validation stay disjoint and fixed."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation hold-out fraction {fraction}: expected 0 < fraction < 1")
    if len(pairs) < 2:
        raise ValueError(f"cannot hold out a validation part of a list of {len(pairs)} pair(s)")
    names = sorted(str(img) for img, _ in pairs)
    n_val = min(len(pairs) - 1, max(1, round(fraction * len(pairs))))
    order = np.random.default_rng(seed).permutation(len(names))
    val_names = {names[i] for i in order[:n_val]}
    return ([p for p in pairs if str(p[0]) not in val_names], [p for p in pairs if str(p[0]) in val_names])


def build_transform(image_size: int, train: bool, hflip: float = 0.5, vflip: float = 0.0):
    """Resize to ``image_size`` square (image bilinear, mask nearest) and, for training, flips."""
    import albumentations as A
    import cv2

    ops = [A.Resize(image_size, image_size, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST)]
    if train:
        ops += [A.HorizontalFlip(p=hflip), A.VerticalFlip(p=vflip)]
    return seeded_compose(ops)


class BinarySegmentationDataset(Dataset):
    """Image/mask pairs with a joint albumentations transform (see ``build_transform``)."""

    def __init__(self, pairs: list[tuple[Path, Path]], transform, threshold: int = 128, native: bool = False) -> None:
        self.pairs, self.transform, self.threshold, self.native = list(pairs), transform, threshold, native

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict:
        image_path, mask_path = self.pairs[i]
        image, mask = read_pair(image_path, mask_path, self.threshold)
        out = self.transform(image=image, mask=mask)
        item = {"image": torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1).float() / 255,
                "mask": torch.from_numpy(np.ascontiguousarray(out["mask"]))[None].float(),
                "id": image_path.stem, "path": str(image_path)}
        if self.native:
            item["mask_native"] = torch.from_numpy(mask)
        return item
