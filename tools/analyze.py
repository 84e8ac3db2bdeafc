#!/usr/bin/env python
"""What did the adapter learn? Singular-value spectra, ranks, conditioning and orthogonality of
every adapted layer's update, as a CSV and log-scale plots grouped by block."""
from __future__ import annotations

import argparse
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/analyze.py runs/quickstart                      # a run folder (its best/, else last/)
  python tools/analyze.py runs/quickstart/last --out /tmp/an   # an adapter folder inside a run
  python tools/analyze.py my_adapter --recipe tasks/quickstart.py   # a loose adapter folder: say its base
  python tools/analyze.py --zoo quickstart                     # a zoo entry (verified by the zoo)

Writes spectra.csv (one row per layer and view: rank_tol with numpy's tolerance
s.max() * max(M, N) * eps, rank_energy, cond = s[0] / s[rank_tol - 1], ||dW||/||W||, ||F^T F - I||_F),
singular_values.csv, summary.png and spectra_<block>.png. Default --out: <run>/analysis."""


def default_out(loaded) -> Path:
    if loaded.adapter_dir is not None and (loaded.adapter_dir.parent / "config.json").is_file():
        return loaded.adapter_dir.parent / "analysis"
    return Path("analysis") / loaded.label.replace("/", "_")


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/analyze.py", description=__doc__, epilog="examples:\n" + EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_trained_source_args(p, "analyse")
    p.add_argument("--out", help="output folder (default: <run>/analysis, else ./analysis/<name>)")
    p.add_argument("--energy", type=float, default=0.99, help="energy fraction of rank_energy (default 0.99)")
    p.add_argument("--layers", metavar="REGEX", help="only layers whose name matches this regex")
    args = p.parse_args()
    from lava_vision.analysis.report import spectra_text_table, write_report
    from lava_vision.analysis.spectra import model_spectra

    loaded = _common.load_trained_source(p, args)
    spectra = model_spectra(loaded.model, energy=args.energy, layers=args.layers)
    out = Path(args.out) if args.out else default_out(loaded)
    paths = write_report(spectra, out, loaded.label)
    print(spectra_text_table(spectra))
    print(f"wrote {len(paths)} files to {out}")


if __name__ == "__main__":
    _common.run_tool(main)
