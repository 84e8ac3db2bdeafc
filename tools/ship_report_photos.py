#!/usr/bin/env python
"""Copy a stratified sample of the report (test) part of a class folder, byte for byte, into a
``<out>/test/<class>/<file>`` tree: the photos a shipped zoo entry is evaluated on offline.

    python tools/ship_report_photos.py ../shared/real/cifar10-jpg/train lava_vision/assets/cifar10_report_photos \\
        --split-sizes 5000 1000 4000 --per-class 100

The parts are those of ``data.split_sizes`` with ``data.split_seed`` (the recipe's), so every
copied photo lies in the part no run adapts to or selects on; within a class the first
``--per-class`` photos of the report part (sorted by file name) are taken."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import _common  # noqa: F401  (puts the checkout on sys.path)


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/ship_report_photos.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="class folder: SOURCE/<class>/<image>")
    p.add_argument("out", help="output folder (OUT/test/<class>/<image>); must not exist")
    p.add_argument("--split-sizes", type=int, nargs=3, required=True, metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--per-class", type=int, required=True)
    args = p.parse_args()
    from lava_vision.data.class_folders import list_class_folder, stratified_parts

    out = Path(args.out)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it first")
    paths, labels, classes = list_class_folder(args.source)
    sizes = dict(zip(("train", "val", "test"), args.split_sizes))
    test = stratified_parts(labels, sizes, args.split_seed)["test"]
    for label, name in enumerate(classes):
        chosen = [paths[i] for i in test if labels[i] == label][:args.per_class]
        if len(chosen) < args.per_class:
            raise ValueError(f"class {name}: only {len(chosen)} photos in the report part")
        (out / "test" / name).mkdir(parents=True)
        for path in chosen:
            shutil.copyfile(path, out / "test" / name / path.name)
    print(f"copied {args.per_class} x {len(classes)} photos of the report part to {out / 'test'}")


if __name__ == "__main__":
    _common.run_tool(main)
