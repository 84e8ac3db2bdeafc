"""Datasets of a depth run: pick the reader named by ``data.source`` and apply the paired transforms."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ...data.depth_transforms import eval_resize, to_tensor, train_transform
from ...data.nyu import (
    NYULabeledDataset,
    NYUSyncDataset,
    check_root,
    read_labeled_scenes,
    read_split_file,
    read_split_indices,
    scene_holdout,
    scene_of,
)
from ...data.synthetic_depth import SyntheticDepthDataset
from .config import SOURCES, DepthDataConfig

SPLITS = ("train", "val", "test")


class DepthSamples(Dataset):
    """Wraps a raw RGB-D reader. Train items: ``image`` 3 x S x S, ``depth`` S x S (S = input_size,
    random crop/flip/jitter). Eval items: ``image`` 3 x h x w resized to multiples of 14, ``depth``
    H x W at the ground truth's own size. Both carry ``id``."""

    def __init__(self, raw: Dataset, train: bool, cfg: DepthDataConfig):
        self.raw, self.train, self.size = raw, train, cfg.input_size
        self.augment = train_transform(cfg.input_size, cfg.hflip, cfg.color_jitter) if train else None

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: int) -> dict:
        item = self.raw[index]
        rgb, depth = item["rgb"], item["depth"]
        if self.train:
            rgb, depth = self.augment(rgb, depth)
        else:
            rgb = eval_resize(rgb, self.size)
        depth = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))
        return {"image": to_tensor(rgb), "depth": depth, "id": item["id"]}


def build_raw(cfg: DepthDataConfig, split: str, seed: int = 0) -> Dataset:
    """The untransformed reader for ``split`` (train | val | test). NYU: "val" is a hold-out of
    whole training rooms and "train" the remaining rooms (``DepthDataConfig``)."""
    if split not in SPLITS:
        raise ValueError(f"depth split {split!r}: expected one of {SPLITS}")
    if cfg.source == "nyu_sync":
        if split == "test":
            return NYUSyncDataset(cfg.test_root or cfg.root, cfg.test_split, cfg.depth_scale)
        check_root(cfg.root)  # before the split list, whose default path lies under a prepared root
        scenes = [scene_of(image) for image, _, _ in read_split_file(cfg.train_split)]
        parts = scene_holdout(scenes, cfg.val_fraction, cfg.val_seed, where=f"NYU split file {cfg.train_split!r}")
        return NYUSyncDataset(cfg.root, cfg.train_split, cfg.depth_scale, indices=parts[split == "val"])
    if cfg.source == "nyu_labeled":
        if split == "test":
            return NYULabeledDataset(cfg.labeled_mat, read_split_indices(cfg.splits_mat, "test"))
        train = read_split_indices(cfg.splits_mat, "train")
        all_scenes = read_labeled_scenes(cfg.labeled_mat)
        if train.size and train.max() >= len(all_scenes):
            raise ValueError(f"NYU labeled file {cfg.labeled_mat!r} names {len(all_scenes)} scenes but "
                             f"{cfg.splits_mat!r} indexes frame {int(train.max()) + 1}")
        scenes = [scene_of(all_scenes[i]) for i in train]
        parts = scene_holdout(scenes, cfg.val_fraction, cfg.val_seed, where=f"NYU labeled file {cfg.labeled_mat!r}")
        return NYULabeledDataset(cfg.labeled_mat, train[parts[split == "val"]])
    if cfg.source == "synthetic":
        h, w = cfg.synthetic_hw
        if split == "train":
            return SyntheticDepthDataset(cfg.synthetic_train_n, cfg.synthetic_train, h, w, seed=seed)
        # evaluation scenes use other seeds than any training scene
        return SyntheticDepthDataset(cfg.synthetic_eval_n, cfg.synthetic_eval, h, w,
                                     seed=10_000 + seed + (1 if split == "test" else 0))
    raise ValueError(f"data.source={cfg.source!r}: expected one of {SOURCES}")
