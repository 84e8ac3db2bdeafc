"""Photos kept in class folders (``root/<class>/<image>``) and fixed, stratified hold-outs of them.

Class names are the sub-folder names sorted (torchvision ``ImageFolder``'s order and label
numbering); files are those with an image extension, sorted, hidden files skipped.

One folder split three ways (``stratified_parts``): within each class the files are shuffled by a
fixed seed, then all classes are interleaved in proportion (the k-th file of a class of n sits at
(k + 0.5) / n), and consecutive runs of that order are the parts: test first, then val, then
train. So each part holds every class in its share of the folder, the parts are disjoint, and
the test and val parts do not move when the train part is made smaller.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
PARTS = ("test", "val", "train")  # the order in which stratified_parts cuts the folder


def list_class_folder(root: str | Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """``(paths, labels, classes)``: every image under ``root/<class>/``, labels N int64."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"class folder {root} does not exist (expected {root}/<class>/<image>)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"{root}: no class sub-folders (expected {root}/<class>/<image>)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise FileNotFoundError(f"{root / name}: class folder holds no image ({', '.join(IMAGE_EXTENSIONS)})")
        paths += files
        labels += [label] * len(files)
    return paths, np.asarray(labels, dtype=np.int64), classes


def stratified_parts(labels: np.ndarray, sizes: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Sorted index arrays of the parts ``sizes`` names (``test``, ``val``, ``train``; sizes N >= 1),
    cut from the class-interleaved, seeded order in the order test, val, train (see module doc)."""
    unknown = set(sizes) - set(PARTS)
    if unknown:
        raise ValueError(f"stratified_parts: unknown parts {sorted(unknown)}; expected {PARTS}")
    if any(not isinstance(n, (int, np.integer)) or n < 1 for n in sizes.values()):
        raise ValueError(f"split sizes {sizes}: each must be a positive integer")
    total = sum(sizes.values())
    if total > len(labels):
        raise ValueError(f"split sizes {sizes} need {total} images; the folder holds {len(labels)}")
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        shuffled = rng.permutation(members)
        keys[shuffled] = (np.arange(len(members)) + 0.5) / len(members)
    order = np.lexsort((labels, keys))  # ties (equal class sizes) broken by label
    out, start = {}, 0
    for part in PARTS:
        if part in sizes:
            out[part] = np.sort(order[start:start + sizes[part]])
            start += sizes[part]
    return out
