"""CIFAR-10 / CIFAR-100 from their official python layout, read without trusting pickle.

Layouts (as unpacked from the official archives):
    <root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    <root>/cifar-100-python/{train, test, meta}

The files are pickles. Plain ``pickle.load`` would run any code a tampered file names, so they
are read with ``SafeUnpickler``, which resolves only the few globals these files contain (numpy
array and dtype reconstruction); anything else raises ``pickle.UnpicklingError``.
"""
from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path

import numpy as np

try:  # numpy >= 2 moved the module; the files name the old path
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

LAYOUTS = {
    "cifar10": {"folder": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)],
                "test": ["test_batch"], "labels": b"labels", "meta": "batches.meta",
                "names": b"label_names"},
    "cifar100": {"folder": "cifar-100-python", "train": ["train"], "test": ["test"],
                 "labels": b"fine_labels", "meta": "meta", "names": b"fine_label_names"},
}


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Python-3 protocol-2 pickles store bytes as ``_codecs.encode(text, "latin1")``."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): scalar,
    ("numpy._core.multiarray", "scalar"): scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array/dtype reconstruction (see ``_ALLOWED``)."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} "
                                         "(not part of a CIFAR batch file)") from None


def safe_load_pickle(path: Path) -> object:
    """Load a CIFAR pickle (python-2 era, hence ``encoding='bytes'``) with ``SafeUnpickler``."""
    try:
        return SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{path}: {e}") from e


VAL_SIZE = 5000  # images of the official training set held out as "val"
VAL_SEED = 0  # fixed, so the hold-out never moves with a run's seed


def holdout_indices(n: int, val_size: int = VAL_SIZE, seed: int = VAL_SEED) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` sorted index arrays: a seeded ``val_size`` of ``n`` training images held out."""
    if not 0 < val_size < n:
        raise ValueError(f"cannot hold out {val_size} validation images of {n} training images")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


def read_cifar(root: str | Path, name: str, split: str,
               val_size: int = VAL_SIZE) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images (N x 32 x 32 x 3 uint8, RGB), labels (N int64) and class names of one split.

    name: ``cifar10`` or ``cifar100`` (fine labels). split: ``train`` (the official training set
    less the validation hold-out: 45,000), ``val`` (a fixed, seeded ``val_size`` = 5,000 of the
    official training set; the layout has no validation split) or ``test`` (the test batch).
    """
    if name not in LAYOUTS:
        raise ValueError(f"data.source={name!r}: expected one of {sorted(LAYOUTS)}")
    layout = LAYOUTS[name]
    folder = Path(root) / layout["folder"]
    if not folder.is_dir():
        raise FileNotFoundError(f"{name}: expected folder {folder} (unpack the official python "
                                "archive there; see datasets/cifar/README.md)")
    if split not in ("train", "val", "test"):
        raise ValueError(f"{name}: unknown split {split!r}; expected train, val or test")
    images, labels = [], []
    for fname in layout["test" if split == "test" else "train"]:
        path = folder / fname
        if not path.is_file():
            raise FileNotFoundError(f"{name}: missing batch file {path}")
        batch = safe_load_pickle(path)
        if not isinstance(batch, dict) or b"data" not in batch or layout["labels"] not in batch:
            raise ValueError(f"{path}: not a {name} batch (needs keys b'data' and {layout['labels']!r})")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"{path}: b'data' has shape {data.shape}, expected N x 3072")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[layout["labels"]], dtype=np.int64))
    images, labels = np.concatenate(images), np.concatenate(labels)
    if split != "test":
        keep = holdout_indices(len(labels), val_size)[split == "val"]
        images, labels = images[keep], labels[keep]
    return np.ascontiguousarray(images), labels, read_class_names(root, name)


def read_class_names(root: str | Path, name: str) -> list[str]:
    """Class names from the layout's meta file; indices as strings when it is absent."""
    layout = LAYOUTS[name]
    meta_path = Path(root) / layout["folder"] / layout["meta"]
    if not meta_path.is_file():
        return [str(i) for i in range(10 if name == "cifar10" else 100)]
    meta = safe_load_pickle(meta_path)
    if not isinstance(meta, dict) or layout["names"] not in meta:
        raise ValueError(f"{meta_path}: no {layout['names']!r} entry")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[layout["names"]]]
