#!/usr/bin/env python
"""Copy stratified samples of the parts of a class folder, byte for byte, into an
``<out>/<part>/<class>/<file>`` tree: the photos the shipped zoo entries are evaluated on (``test``,
the report part) and the photos ``make demo`` adapts to (``train``) and selects its checkpoint on
(``val``), all offline.

    python tools/ship_report_photos.py ../shared/real/cifar10-jpg/train lava_vision/assets/cifar10_report_photos \\
        --split-sizes 5000 1000 4000 --per-class test=100 val=50 train=200

The parts are those of ``data.split_sizes`` with ``data.split_seed`` (the real-network recipe's), so
the three copied parts are disjoint and every ``test`` photo lies in the part no run adapts to or
selects on; within a class the first N photos of a part (sorted by file name) are taken. ``out`` may
exist; each ``out/<part>`` written must not (a shipped part is never overwritten)."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import _common  # noqa: F401  (puts the checkout on sys.path)

PART_NAMES = ("train", "val", "test")  # the order of --split-sizes (data.split_sizes)


def per_class_arg(text: str) -> tuple[str, int]:
    """``PART=N`` -> (part, N)."""
    part, _, n = text.partition("=")
    if part not in PART_NAMES or not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PART=N with PART one of {PART_NAMES}, N >= 1")
    return part, int(n)


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/ship_report_photos.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="class folder: SOURCE/<class>/<image>")
    p.add_argument("out", help="output folder (OUT/<part>/<class>/<image>); OUT/<part> must not exist")
    p.add_argument("--split-sizes", type=int, nargs=3, required=True, metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--per-class", type=per_class_arg, nargs="+", required=True, metavar="PART=N",
                   help="photos per class to copy from each named part, e.g. test=100 val=50 train=200")
    args = p.parse_args()
    from lava_vision.data.class_folders import list_class_folder, stratified_parts

    out = Path(args.out)
    wanted = dict(args.per_class)
    taken = [part for part in wanted if (out / part).exists()]
    if taken:  # checked before copying anything, so a refusal leaves OUT as it was
        raise FileExistsError(f"{', '.join(str(out / t) for t in taken)} exists; remove it first")
    paths, labels, classes = list_class_folder(args.source)
    parts = stratified_parts(labels, dict(zip(PART_NAMES, args.split_sizes)), args.split_seed)
    chosen = {}
    for part, n in wanted.items():
        for label, name in enumerate(classes):
            files = [paths[i] for i in parts[part] if labels[i] == label][:n]
            if len(files) < n:
                raise ValueError(f"class {name}: only {len(files)} photos in the {part} part, {n} asked")
            chosen[part, name] = files
    for (part, name), files in chosen.items():
        (out / part / name).mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, out / part / name / path.name)
    print("copied " + ", ".join(f"{n} x {len(classes)} photos of the {part} part" for part, n in wanted.items())
          + f" to {out}")


if __name__ == "__main__":
    _common.run_tool(main)
