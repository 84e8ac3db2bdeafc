"""NYU Depth v2 readers: the "sync" layout with split files, and the official labeled ``.mat``.

Sync layout (BTS / ZoeDepth / Depth-Anything V1): a split file with lines
``/kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png 518.8579`` (image, depth,
focal), paths relative to a data root; depth PNGs are uint16 millimetres (0 = invalid).
24,231 training lines, 654 test lines.

Labeled ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5): ``images`` stored as
``N x 3 x W x H`` uint8 and ``depths`` as ``N x W x H`` float metres, i.e. transposed from MATLAB's
view; the 654-image test split is ``testNdxs`` (1-based) of the official ``splits.mat``.

Items: ``{"rgb": H x W x 3 uint8, "depth": H x W float32 metres, "id": str}``.

NYU has no official validation split. ``scene_holdout`` holds out whole rooms of the training
list (``kitchen_0028a`` and ``kitchen_0028b`` are one room), so no room seen in training is used
to select a checkpoint; the official test rooms are disjoint from the training rooms already.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from . import images


class NYUDataError(ValueError):
    """A data file or split line that cannot be read as NYU RGB-D, named in the message."""


def read_split_file(split_file: str | Path) -> list[tuple[str, str, float]]:
    """``(image, depth, focal)`` per non-empty line; a malformed line is an error naming file and line."""
    path = Path(split_file)
    if not path.is_file():
        raise FileNotFoundError(f"NYU split file {str(path)!r} does not exist")
    rows = []
    for no, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise NYUDataError(f"{path}:{no}: expected 'image depth focal', got {line!r}")
        try:
            focal = float(parts[2])
        except ValueError:
            raise NYUDataError(f"{path}:{no}: focal {parts[2]!r} is not a number") from None
        rows.append((parts[0].lstrip("/"), parts[1].lstrip("/"), focal))
    if not rows:
        raise NYUDataError(f"NYU split file {str(path)!r} lists no samples")
    return rows


def scene_of(name: str) -> str:
    """The room of a frame: a sync-layout path's first folder, or a scene name, without the
    recording's trailing letter (``/kitchen_0028b/rgb_00045.jpg`` -> ``kitchen_0028``). ``""`` for
    a path without a folder."""
    parts = name.strip("/").split("/")
    if len(parts) < 2 and "." in parts[0]:
        return ""
    return re.sub(r"(_\d+)[a-z]$", r"\1", parts[0])


def scene_holdout(scenes: list[str], fraction: float, seed: int = 0, where: str = "NYU"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` index arrays over ``scenes`` (one room name per frame): whole rooms, drawn
    in a seeded order until the held-out frames reach ``fraction`` of all (at least one room, never
    all). Depends only on the room names, ``fraction`` and ``seed``."""
    if not 0 < fraction < 1:
        raise ValueError(f"{where}: data.val_fraction={fraction}: expected 0 < fraction < 1")
    if any(not s for s in scenes):
        raise NYUDataError(f"{where}: a frame without a scene folder; cannot hold out validation rooms")
    rooms = sorted(set(scenes))
    if len(rooms) < 2:
        raise NYUDataError(f"{where}: {len(rooms)} room(s); a validation hold-out by room needs at least two")
    names = np.asarray(scenes)
    frames = {room: int((names == room).sum()) for room in rooms}
    chosen, held = [], 0
    for r in np.random.default_rng(seed).permutation(len(rooms)):
        if held >= fraction * len(names) or len(chosen) == len(rooms) - 1:
            break
        chosen.append(rooms[r])
        held += frames[rooms[r]]
    val = np.isin(names, chosen)
    return np.flatnonzero(~val), np.flatnonzero(val)


def read_rgb(path: Path) -> np.ndarray:
    """``H x W x 3`` uint8 RGB; a missing, truncated or unreadable file is an error naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"NYU image {str(path)!r} does not exist")
    try:
        return images.read_rgb(path)
    except images.ImageReadError as e:
        raise NYUDataError(f"NYU image: {e}") from e


def read_depth_png(path: Path, scale: float = 1000.0) -> np.ndarray:
    """uint16 PNG in millimetres -> ``H x W`` float32 metres (0 stays 0 = invalid)."""
    if not path.is_file():
        raise FileNotFoundError(f"NYU depth map {str(path)!r} does not exist")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise NYUDataError(f"NYU depth map {str(path)!r} could not be decoded")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise NYUDataError(f"NYU depth map {str(path)!r} is {raw.dtype} with shape {raw.shape}; expected a "
                           "single-channel uint16 PNG in millimetres")
    return raw.astype(np.float32) / scale


def check_root(root: str | Path) -> Path:
    """``root`` as a Path; a missing folder is an error naming the recipe keys and the dataset README."""
    path = Path(root)
    if not path.is_dir():
        raise FileNotFoundError(f"NYU data root {str(path)!r} does not exist: set data.root (data.test_root "
                                "for evaluation when it differs); datasets/nyu_depth_v2/README.md says how to "
                                "download and lay it out")
    return path


class NYUSyncDataset(Dataset):
    """The sync layout: ``root`` + a split file (see module docstring)."""

    def __init__(self, root: str | Path, split_file: str | Path, depth_scale: float = 1000.0,
                 indices: np.ndarray | list[int] | None = None):
        self.root = check_root(root)
        self.rows = read_split_file(split_file)
        if indices is not None:  # a part of the list, e.g. the rooms of a validation hold-out
            self.rows = [self.rows[int(i)] for i in indices]
        self.depth_scale = depth_scale
        # every listed file must exist now, not when an epoch reaches it
        missing = [str(self.root / f) for row in self.rows for f in row[:2] if not (self.root / f).is_file()]
        if missing:
            raise FileNotFoundError(f"NYU split file {str(split_file)!r}: {len(missing)} listed file(s) missing "
                                    f"under {str(self.root)!r}, first: {', '.join(missing[:3])}")

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        image, depth_name, _ = self.rows[index]
        rgb = read_rgb(self.root / image)
        depth = read_depth_png(self.root / depth_name, self.depth_scale)
        if rgb.shape[:2] != depth.shape:
            raise NYUDataError(f"NYU sample {image!r}: image is {rgb.shape[:2]} but depth map {depth_name!r} "
                               f"is {depth.shape}")
        return {"rgb": rgb, "depth": depth, "id": image.rsplit(".", 1)[0].replace("/", "_")}


def read_split_indices(splits_file: str | Path, split: str) -> np.ndarray:
    """0-based indices of ``split`` ("train" -> trainNdxs, "test" -> testNdxs) from ``splits.mat``.
    The file has no validation split: hold one out of "train" (``scene_holdout``)."""
    from scipy.io import loadmat

    path = Path(splits_file)
    if not path.is_file():
        raise FileNotFoundError(f"NYU splits file {str(path)!r} does not exist (the official splits.mat)")
    key = {"train": "trainNdxs", "test": "testNdxs"}.get(split)
    if key is None:
        raise ValueError(f"NYU split {split!r}: splits.mat holds train and test (validation is held out of train)")
    mat = loadmat(str(path))
    if key not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise NYUDataError(f"NYU splits file {str(path)!r} has no {key!r} (keys: {keys})")
    return np.asarray(mat[key]).reshape(-1).astype(np.int64) - 1  # MATLAB indices are 1-based


def read_labeled_scenes(mat_file: str | Path) -> list[str]:
    """The scene name of every frame of the labeled ``.mat`` (its ``scenes`` cell array)."""
    import h5py

    path = Path(mat_file)
    if not path.is_file():
        raise FileNotFoundError(f"NYU labeled file {str(path)!r} does not exist")
    with h5py.File(path, "r") as f:
        if "scenes" not in f:
            raise NYUDataError(f"NYU labeled file {str(path)!r} has no 'scenes'; cannot hold out validation rooms")
        refs = np.asarray(f["scenes"]).reshape(-1)
        return ["".join(map(chr, np.asarray(f[r]).reshape(-1))) for r in refs]


class NYULabeledDataset(Dataset):
    """The official labeled ``.mat`` (1,449 frames), restricted to ``indices`` (e.g. the 654 test
    frames of ``read_split_indices``). ``depth_key``: ``depths`` (in-painted, what the standard
    test split uses) or ``rawDepths``. The HDF5 file is opened lazily, once per worker."""

    def __init__(self, mat_file: str | Path, indices: np.ndarray | list[int] | None = None,
                 depth_key: str = "depths"):
        import h5py

        self.path = Path(mat_file)
        if not self.path.is_file():
            raise FileNotFoundError(f"NYU labeled file {str(self.path)!r} does not exist: set data.labeled_mat; "
                                    "datasets/nyu_depth_v2/README.md says where to get it")
        try:
            with h5py.File(self.path, "r") as f:
                missing = [k for k in ("images", depth_key) if k not in f]
                if missing:
                    raise NYUDataError(f"NYU labeled file {str(self.path)!r} lacks datasets {missing}")
                n, shape_i, shape_d = f["images"].shape[0], f["images"].shape, f[depth_key].shape
        except OSError as e:
            raise NYUDataError(f"NYU labeled file {str(self.path)!r} is not an HDF5 (MATLAB v7.3) file: {e}") from e
        if shape_i[1] != 3 or shape_i[2:] != shape_d[1:]:
            raise NYUDataError(f"NYU labeled file {str(self.path)!r}: images {shape_i} and {depth_key} {shape_d} "
                               "do not pair up as N x 3 x W x H and N x W x H")
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise NYUDataError(f"NYU labeled file {str(self.path)!r} has {n} frames; split index out of range")
        self.depth_key = depth_key
        self._file = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        import h5py

        if self._file is None:
            self._file = h5py.File(self.path, "r")
        i = int(self.indices[index])
        rgb = np.ascontiguousarray(self._file["images"][i].transpose(2, 1, 0))  # 3 x W x H -> H x W x 3
        depth = np.ascontiguousarray(self._file[self.depth_key][i].T).astype(np.float32)  # W x H -> H x W
        return {"rgb": rgb, "depth": depth, "id": f"nyu_labeled_{i:04d}"}

    def __getstate__(self) -> dict:  # h5py handles do not pickle: each worker opens its own
        state = dict(self.__dict__)
        state["_file"] = None
        return state
