"""Photos kept in class folders (``root/<class>/<image>``) and fixed, stratified hold-outs of them.

Class names are the sub-folder names sorted (torchvision ``ImageFolder``'s order and label
numbering); files are those with an image extension, sorted, hidden files skipped.

One folder split three ways (``stratified_parts``): within each class the files are shuffled by a
fixed seed, then all classes are interleaved in proportion (the k-th file of a class of n sits at
(k + 0.5) / n), and consecutive runs of that order are the parts: test first, then val, then
train. So each part holds every class in its share of the folder, the parts are disjoint, and
the test and val parts do not move when the train part is made smaller.

Part sizes are image counts or fractions of the folder (``part_sizes``): ``(0.5, 0.1, 0.4)`` of
10,000 photos are the same parts as ``(5000, 1000, 4000)``, and of 300 photos 150 / 30 / 120.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..json_types import is_number

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


def part_sizes(sizes: dict[str, int | float], total: int) -> dict[str, int]:
    """Image counts of the parts: ``sizes`` as counts (integers >= 1) are returned unchanged; as
    fractions (every value in (0, 1), summing to at most 1) each part gets ``round(fraction x total)``
    images, except that when the fractions sum to 1 the train part takes what the others leave, so no
    image is dropped by rounding. Mixing counts and fractions, or a part rounding to 0 images, is a
    ValueError."""
    values = list(sizes.values())
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values):
        return {k: int(v) for k, v in sizes.items()}
    if not all(is_number(v, finite=False) and 0 < v < 1 for v in values):
        raise ValueError(f"split sizes {sizes}: give image counts (integers >= 1) or fractions of the folder "
                         "(each between 0 and 1), not a mix")
    if sum(values) > 1 + 1e-9:
        raise ValueError(f"split sizes {sizes}: fractions sum to {sum(values):g}, more than the whole folder")
    counts = {k: int(round(v * total)) for k, v in sizes.items()}
    if "train" in sizes and abs(sum(values) - 1) <= 1e-9:
        counts["train"] = total - sum(n for k, n in counts.items() if k != "train")
    empty = [k for k, n in counts.items() if n < 1]
    if empty:
        raise ValueError(f"split sizes {sizes}: the {', '.join(empty)} part of {total} images would be empty")
    return counts


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
