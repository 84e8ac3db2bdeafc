"""Mean and spread over seeds of a sweep that swept ``train.seed`` (run names ``..._seed<N>``).

    python -m lava_vision.analysis.seeds runs/qs_init_sweep/comparison.csv --metric top1

reads the ``comparison.csv`` files that ``tools/sweep.py`` writes and prints one Markdown row per
setting: the number of seeds, mean ± sample standard deviation, and min–max of the metric. With
``--reference SETTING`` it adds the paired view: per setting, the difference to the reference on
the same seeds (same data order and, where the shapes agree, the same draws), its mean ± std and
how many seeds it wins, ties and loses. Seed-to-seed spread is often larger than the effect of a
setting, so the paired differences are what separates two settings at a few seeds.
"""
from __future__ import annotations

import argparse
import csv
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SEED = re.compile(r"_seed(\d+)(?=_|$)")


@dataclass
class SeedStats:
    setting: str  # the run name without its seed part
    values: list[float]
    seeds: list[int]  # the seed of each value

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1); 0 for one seed."""
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


def over_seeds(csv_paths: Sequence[Path], metric: str) -> list[SeedStats]:
    """Group the rows of the sweep CSVs by run name without ``_seed<N>``, in first-seen order."""
    groups: dict[str, dict[int, float]] = {}
    for path in csv_paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if metric not in row:
                    raise KeyError(f"{path}: no column {metric!r}; columns: {sorted(row)}")
                match = SEED.search(row["run"])
                if not match:
                    raise ValueError(f"{path}: run {row['run']!r} has no _seed<N> part; sweep train.seed")
                setting, seed = SEED.sub("", row["run"]), int(match.group(1))
                if seed in groups.setdefault(setting, {}):
                    raise ValueError(f"{path}: {setting!r} seed {seed} appears twice")
                groups[setting][seed] = float(row[metric])
    return [SeedStats(k, list(v.values()), list(v)) for k, v in groups.items()]


@dataclass
class PairedStats(SeedStats):
    """``values``: setting minus reference, one per seed both ran (``seeds``)."""

    @property
    def diffs(self) -> list[float]:
        return self.values

    def record(self) -> tuple[int, int, int]:
        """(wins, ties, losses) against the reference, seed by seed."""
        return (sum(d > 0 for d in self.diffs), sum(d == 0 for d in self.diffs), sum(d < 0 for d in self.diffs))


def paired(stats: Sequence[SeedStats], reference: str) -> list[PairedStats]:
    """Each other setting minus ``reference`` on the seeds both ran."""
    by_name = {s.setting: s for s in stats}
    if reference not in by_name:
        raise KeyError(f"reference {reference!r} is not one of {sorted(by_name)}")
    ref = dict(zip(by_name[reference].seeds, by_name[reference].values))
    out = []
    for s in stats:
        if s.setting != reference:
            common = [(seed, v - ref[seed]) for seed, v in zip(s.seeds, s.values) if seed in ref]
            if common:
                out.append(PairedStats(s.setting, [d for _, d in common], [seed for seed, _ in common]))
    return out


def markdown(stats: Sequence[SeedStats], metric: str, digits: int = 3) -> str:
    lines = [f"| setting | seeds | {metric} mean ± std | min – max |", "|---|---:|---:|---:|"]
    for s in stats:
        lines.append(f"| {s.setting} | {len(s.values)} | {s.mean:.{digits}f} ± {s.std:.{digits}f} | "
                     f"{min(s.values):.{digits}f} – {max(s.values):.{digits}f} |")
    return "\n".join(lines)


def paired_markdown(rows: Sequence[PairedStats], reference: str, metric: str, digits: int = 3) -> str:
    lines = [f"| setting | seeds | {metric} − {reference}: mean ± std | wins / ties / losses |",
             "|---|---:|---:|---:|"]
    for r in rows:
        wins, ties, losses = r.record()
        lines.append(f"| {r.setting} | {len(r.diffs)} | {r.mean:+.{digits}f} ± {r.std:.{digits}f} "
                     f"| {wins} / {ties} / {losses} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv", nargs="+", type=Path, help="comparison.csv files written by tools/sweep.py")
    p.add_argument("--metric", required=True)
    p.add_argument("--digits", type=int, default=3)
    p.add_argument("--reference", help="a setting (run name without _seed<N>) to pair every other with")
    args = p.parse_args()
    stats = over_seeds(args.csv, args.metric)
    print(markdown(stats, args.metric, args.digits))
    if args.reference:
        print()
        print(paired_markdown(paired(stats, args.reference), args.reference, args.metric, args.digits))


if __name__ == "__main__":
    main()
