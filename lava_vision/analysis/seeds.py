"""Mean and spread over seeds of a sweep that swept ``train.seed`` (run names ``..._seed<N>``).

    python -m lava_vision.analysis.seeds runs/qs_init_sweep/comparison.csv --metric top1

reads the ``comparison.csv`` files that ``tools/sweep.py`` writes and prints one Markdown row per
setting: the number of seeds, mean ± sample standard deviation, and min–max of the metric.
"""
from __future__ import annotations

import argparse
import csv
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

SEED = re.compile(r"_seed\d+(?=_|$)")


@dataclass
class SeedStats:
    setting: str  # the run name without its seed part
    values: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1); 0 for one seed."""
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


def over_seeds(csv_paths: Sequence[Path], metric: str) -> list[SeedStats]:
    """Group the rows of the sweep CSVs by run name without ``_seed<N>``, in first-seen order."""
    groups: dict[str, list[float]] = {}
    for path in csv_paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if metric not in row:
                    raise KeyError(f"{path}: no column {metric!r}; columns: {sorted(row)}")
                if not SEED.search(row["run"]):
                    raise ValueError(f"{path}: run {row['run']!r} has no _seed<N> part; sweep train.seed")
                groups.setdefault(SEED.sub("", row["run"]), []).append(float(row[metric]))
    return [SeedStats(k, v) for k, v in groups.items()]


def markdown(stats: Sequence[SeedStats], metric: str, digits: int = 3) -> str:
    lines = [f"| setting | seeds | {metric} mean ± std | min – max |", "|---|---:|---:|---:|"]
    for s in stats:
        lines.append(f"| {s.setting} | {len(s.values)} | {s.mean:.{digits}f} ± {s.std:.{digits}f} | "
                     f"{min(s.values):.{digits}f} – {max(s.values):.{digits}f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv", nargs="+", type=Path, help="comparison.csv files written by tools/sweep.py")
    p.add_argument("--metric", required=True)
    p.add_argument("--digits", type=int, default=3)
    args = p.parse_args()
    print(markdown(over_seeds(args.csv, args.metric), args.metric, args.digits))


if __name__ == "__main__":
    main()
