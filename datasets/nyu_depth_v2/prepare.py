#!/usr/bin/env python
"""Prepare / check NYU Depth v2 for lava-vision (see README.md beside this file).

    # the official 654-image test split from the labeled .mat, written in the sync layout
    python datasets/nyu_depth_v2/prepare.py extract-test --mat datasets/nyu_depth_v2/nyu_depth_v2_labeled.mat \
        --splits datasets/nyu_depth_v2/splits.mat --out datasets/nyu_depth_v2/official_splits/test \
        --split-file datasets/nyu_depth_v2/splits/nyudepthv2_test_files_with_gt.txt
    # check that every file of a split list exists and decodes (uint16 depth, matching sizes)
    python datasets/nyu_depth_v2/prepare.py check --root datasets/nyu_depth_v2/sync \
        --split-file datasets/nyu_depth_v2/splits/nyudepthv2_train_files_with_gt.txt
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from lava_vision.data.nyu import NYULabeledDataset, NYUSyncDataset, read_split_indices

FOCAL = 518.8579  # NYU Kinect colour camera focal length in pixels, as the split lists carry it


def extract_test(mat: Path, splits: Path, out: Path, split_file: Path, split: str = "test") -> int:
    """Write ``rgb_XXXXX.jpg`` / ``sync_depth_XXXXX.png`` (uint16 mm) per frame of ``split``
    (XXXXX = the frame's 1-based index in the .mat) and the matching split list; returns the count."""
    ds = NYULabeledDataset(mat, read_split_indices(splits, split))
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in tqdm(range(len(ds)), desc=f"extract {split}"):
        item = ds[i]
        n = int(ds.indices[i]) + 1
        cv2.imwrite(str(out / f"rgb_{n:05d}.jpg"), item["rgb"][..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
        depth_mm = np.clip(np.round(item["depth"] * 1000.0), 0, 65535).astype(np.uint16)
        cv2.imwrite(str(out / f"sync_depth_{n:05d}.png"), depth_mm)
        lines.append(f"/rgb_{n:05d}.jpg /sync_depth_{n:05d}.png {FOCAL}")
    split_file.parent.mkdir(parents=True, exist_ok=True)
    split_file.write_text("\n".join(lines) + "\n")
    return len(lines)


def check(root: Path, split_file: Path) -> int:
    """Read every sample (raises naming the first bad file); returns the number of samples."""
    ds = NYUSyncDataset(root, split_file)
    for i in tqdm(range(len(ds)), desc="check"):
        ds[i]
    return len(ds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract-test", help="write the official test split of the labeled .mat in the sync layout")
    e.add_argument("--mat", type=Path, required=True)
    e.add_argument("--splits", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--split-file", type=Path, required=True)
    c = sub.add_parser("check", help="verify a sync-layout split list")
    c.add_argument("--root", type=Path, required=True)
    c.add_argument("--split-file", type=Path, required=True)
    args = p.parse_args()
    if args.cmd == "extract-test":
        print(f"wrote {extract_test(args.mat, args.splits, args.out, args.split_file)} frames to {args.out}")
    else:
        print(f"{check(args.root, args.split_file)} samples OK in {args.split_file}")


if __name__ == "__main__":
    main()
