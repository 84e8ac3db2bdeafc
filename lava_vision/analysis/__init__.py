"""Looking at what an adapter learned and what it cost: update spectra (``spectra``), run comparison
tables (``compare``), grid sweeps (``sweep``) and their pictures (``plots``, matplotlib imported only
there). Depends on torch, numpy and the adapters. Training-time diagnostics (``train.diagnostics=true``)
are part of the engine: ``lava_vision.train.diagnostics``."""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Spectrum": "spectra", "layer_spectra": "spectra", "model_spectra": "spectra", "numerical_rank": "spectra",
    "energy_rank": "spectra", "unfold": "spectra", "block_of": "spectra",
    "RunSummary": "compare", "summarize_run": "compare", "markdown_table": "compare",
    "load_for_analysis": "sources", "load_zoo_entry": "sources",
    "parse_sweep": "sweep", "grid_points": "sweep", "point_name": "sweep", "run_sweep": "sweep",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
