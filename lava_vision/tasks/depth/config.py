"""Data and loss sections of a depth run (the model section is ``model.DepthModelConfig``)."""
from __future__ import annotations

from dataclasses import dataclass

from ...train.validate import check_image_side

SOURCES = ("nyu_sync", "nyu_labeled", "synthetic")


@dataclass
class DepthDataConfig:
    """Where the RGB-D pairs come from and how they are prepared.

    source: ``nyu_sync`` (root + split files), ``nyu_labeled`` (labeled .mat + splits.mat) or
        ``synthetic`` (procedural rooms, see ``lava_vision.data.synthetic_depth``).
    Splits: "test" is the official 654-frame test split; NYU has no validation set, so "val" is
        a seeded hold-out of whole rooms of the training list (``val_fraction`` of its frames,
        ``val_seed``) and "train" is the rest. Synthetic "val" and "test" scenes come from
        different seeds than each other and than training.
    input_size: training crop side and the evaluation resize's shorter side (multiple of 14).
    min_depth / max_depth: valid ground truth is min_depth < gt < max_depth; predictions are
        clamped to [min_depth, max_depth] for evaluation.
    eigen_crop: evaluate inside rows 45:471, cols 41:601 (applied only to 480 x 640 ground truth).
    flip_eval: average the prediction with the flipped prediction of the flipped image.
    """

    source: str = "nyu_sync"
    root: str = "datasets/nyu_depth_v2/sync"
    train_split: str = "datasets/nyu_depth_v2/splits/nyudepthv2_train_files_with_gt.txt"
    test_root: str = "datasets/nyu_depth_v2/official_splits/test"
    test_split: str = "datasets/nyu_depth_v2/splits/nyudepthv2_test_files_with_gt.txt"
    labeled_mat: str = "datasets/nyu_depth_v2/nyu_depth_v2_labeled.mat"
    splits_mat: str = "datasets/nyu_depth_v2/splits.mat"
    depth_scale: float = 1000.0  # PNG units per metre (millimetres)
    input_size: int = 518
    hflip: bool = True
    color_jitter: float = 0.2
    min_depth: float = 1e-3
    max_depth: float = 10.0
    eigen_crop: bool = True
    flip_eval: bool = False
    val_fraction: float = 0.05  # NYU: share of training frames held out (whole rooms) for "val"
    val_seed: int = 0  # fixed: the hold-out does not move with train.seed
    synthetic_train: str = "A"  # distribution name for training scenes
    synthetic_eval: str = "A"  # distribution name for val / test scenes
    synthetic_hw: tuple[int, int] = (84, 112)
    synthetic_train_n: int = 512
    synthetic_eval_n: int = 64

    def validate(self) -> None:
        """Image sides in range (``train.validate.check_config`` calls it)."""
        check_image_side("data.input_size", self.input_size)
        for i, side in enumerate(self.synthetic_hw):
            check_image_side(f"data.synthetic_hw[{i}]", side)


@dataclass
class DepthLossConfig:
    """kind: ``silog`` (DA-V2: sqrt(mean d^2 - lam mean(d)^2)) or ``zoe`` (10 sqrt(Var d + 0.15 mean(d)^2))."""

    kind: str = "silog"
    lam: float = 0.5
