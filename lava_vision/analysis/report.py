"""The files ``tools/analyze.py`` writes: CSVs of the spectra numbers and values, and the pictures."""
from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from .spectra import Spectrum


def write_spectra_csv(spectra: Sequence[Spectrum], path: Path) -> Path:
    """One row per (layer, view) with the numbers of ``Spectrum.row``."""
    rows = [s.row() for s in spectra]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_singular_values_csv(spectra: Sequence[Spectrum], path: Path) -> Path:
    """Long format ``layer, view, index, value`` with the leading ``max(2R, R + 4)`` values per view
    (beyond the rank they are float64 round-off), for re-plotting elsewhere."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["layer", "view", "index", "value"])
        for s in spectra:
            n = min(s.singular_values.size, max(2 * s.rank, s.rank + 4))
            for i, v in enumerate(s.singular_values[:n]):
                writer.writerow([s.layer, s.view, i + 1, repr(float(v))])
    return path


def spectra_text_table(spectra: Sequence[Spectrum], width: int = 40) -> str:
    """A console table of the primary view of each layer (dW for linears, flat for convs)."""
    head = f"{'layer':<{width}} {'view':<7} {'R':>3} {'rank':>4} {'e99':>4} {'cond':>9} {'|dW|/|W|':>9} {'orth':>9}"
    lines = [head, "-" * len(head)]
    for s in spectra:
        if s.view not in ("matrix", "flat"):
            continue
        orth = "-" if math.isnan(s.orth_error) else f"{s.orth_error:9.3g}"
        lines.append(f"{s.layer[-width:]:<{width}} {s.view:<7} {s.rank:>3} {s.rank_tol:>4} {s.rank_energy:>4} "
                     f"{s.cond:>9.3g} {s.rel_update:>9.3g} {orth:>9}")
    return "\n".join(lines)


def write_report(spectra: Sequence[Spectrum], out_dir: Path, title: str) -> list[Path]:
    """``spectra.csv``, ``singular_values.csv``, ``summary.png`` and ``spectra_<block>.png`` in ``out_dir``."""
    from .plots import plot_block_spectra, plot_summary

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [write_spectra_csv(spectra, out_dir / "spectra.csv"),
             write_singular_values_csv(spectra, out_dir / "singular_values.csv"),
             plot_summary(spectra, out_dir / "summary.png", title)]
    return paths + plot_block_spectra(spectra, out_dir, title)
