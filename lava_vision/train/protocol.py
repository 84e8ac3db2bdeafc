"""The evaluation protocol's rule on checkpoint selection, and the record of what a checkpoint is.

``best/`` is the checkpoint with the best ``eval.main_metric`` on ``eval.split``. Selecting it on
the split a paper reports (test) biases the reported number upwards, so a run that would do so
is refused unless the recipe opts in with ``eval.select_on_test=True``. Every checkpoint's
metadata records how it was chosen (``selection_record``); ``describe_checkpoint`` turns that into
the line ``tools/eval.py`` prints.
"""
from __future__ import annotations

import os
from pathlib import Path

from .config import RunConfig
from .recipe import RecipeError

TEST_SPLITS = ("test",)


class SelectionError(RecipeError):
    """A run would select its best checkpoint on a test split; the message names the recipe keys."""


def check_selection(cfg: RunConfig) -> None:
    """Raise SelectionError when ``best/`` would be chosen on a test split without an explicit opt-in."""
    e = cfg.eval
    if e.main_metric and e.split in TEST_SPLITS and not e.select_on_test:
        raise SelectionError(
            f"eval.split={e.split!r} with eval.main_metric={e.main_metric!r} selects best/ on the test split, "
            "which makes the reported test number optimistic. Select on eval.split='val' (held out of the "
            "training data, see docs/evaluation-protocol.md) and score the chosen checkpoint on test once "
            "with tools/eval.py --split test; or set eval.select_on_test=true to opt in knowingly")


def selection_record(cfg: RunConfig, kind: str, step: int, value: float | None = None) -> dict:
    """The ``selection`` entry of a checkpoint's metadata. ``kind``: "best" (chosen by
    ``eval.main_metric`` on ``eval.split``) or "last" (the latest step, not chosen on any split)."""
    e = cfg.eval
    if kind == "best":
        return {"kind": "best", "split": e.split, "metric": e.main_metric, "mode": e.mode, "value": value,
                "step": step}
    return {"kind": "last", "split": None, "metric": None, "mode": None, "value": None, "step": step}


def describe_checkpoint(adapter_dir: str | os.PathLike) -> tuple[str, dict | None]:
    """``(line, selection)`` for an adapter folder: which checkpoint it is and on which split it was
    chosen (``selection`` as ``selection_record`` wrote it; None when the folder has no record)."""
    from ..adapters import read_adapter_config

    adapter_dir = Path(adapter_dir)
    meta = read_adapter_config(adapter_dir).get("metadata", {})
    sel = meta.get("selection") or _from_run_config(adapter_dir, meta.get("step"))
    if not sel:
        return f"{adapter_dir} (no selection record: not a checkpoint of this trainer's run folder)", None
    if sel.get("kind") == "best":
        return (f"{adapter_dir}: best/ checkpoint, chosen by {sel['metric']} ({sel['mode']}) on split "
                f"{sel['split']!r} at step {sel['step']}"), sel
    return f"{adapter_dir}: last/ checkpoint (step {sel['step']}; not chosen on any split)", sel


def _from_run_config(adapter_dir: Path, step: int | None) -> dict | None:
    """A run folder's ``best/`` or ``last/`` written before checkpoints carried a selection record:
    rebuilt from the run's ``config.json`` (its ``eval`` section chose ``best/``)."""
    from .run_files import read_run_config_doc

    config = adapter_dir.parent / "config.json"
    if adapter_dir.name not in ("best", "last") or not config.is_file():
        return None
    try:
        e = read_run_config_doc(config).get("eval", {})
    except (OSError, ValueError):  # JsonFileError: not a run config
        return None
    if not isinstance(e, dict):
        return None
    if adapter_dir.name == "last":
        return {"kind": "last", "split": None, "metric": None, "mode": None, "value": None, "step": step}
    return {"kind": "best", "split": e.get("split"), "metric": e.get("main_metric"), "mode": e.get("mode"),
            "value": None, "step": step}
