"""The JSON files of a run folder, read as files from elsewhere (a run folder is shared like any other).

``config.json``, ``metrics.json`` and ``eval_<split>.json`` are read with ``read_json_object`` (no
depth bomb, no undecodable bytes) and checked for the shape every reader relies on; anything else
raises JsonFileError (a ValueError) naming the file and the key. The config's sections are checked
by ``RunConfig.from_dict`` where a reader builds one; here only what every reader of the raw
document uses: a JSON object, and its ``resumed`` records (``train/resume.py``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..json_types import JsonFileError, JsonTypeError, check_json, read_json_object
from .config import RESUME_HISTORY


def _check(path: Path, value: Any, hint: Any, key: str) -> Any:
    try:
        return check_json(value, hint, key)
    except JsonTypeError as e:
        raise JsonFileError(f"{path}: {e}") from None


def read_run_config_doc(path: str | os.PathLike) -> dict:
    """A run's ``config.json`` as a JSON object whose ``resumed`` (when present) is a list of
    ``{"step": int >= 0, "changed": {key: [old, new]}}`` records."""
    path = Path(path)
    doc = read_json_object(path, "a run config")
    if RESUME_HISTORY in doc:
        history = _check(path, doc[RESUME_HISTORY], list[dict[str, Any]], RESUME_HISTORY)
        for i, record in enumerate(history):
            key = f"{RESUME_HISTORY}[{i}]"
            if set(record) != {"step", "changed"}:
                raise JsonFileError(f"{path}: {key}: expected the keys 'step' and 'changed', got {sorted(record)}")
            if _check(path, record["step"], int, f"{key}.step") < 0:
                raise JsonFileError(f"{path}: {key}.step={record['step']}: expected an integer >= 0")
            for name, pair in _check(path, record["changed"], dict[str, list], f"{key}.changed").items():
                if len(pair) != 2:
                    raise JsonFileError(f"{path}: {key}.changed[{name!r}]: expected [old value, new value]")
    return doc


def read_run_metrics(path: str | os.PathLike) -> dict:
    """A run's ``metrics.json`` (the final evaluation): ``{"split": str, "step": int >= 0, name: number, ...}``."""
    path = Path(path)
    doc = read_json_object(path, "a run's final metrics")
    for key in ("split", "step"):
        if key not in doc:
            raise JsonFileError(f"{path}: no {key!r}")
    _check(path, doc["split"], str, "split")
    if _check(path, doc["step"], int, "step") < 0:
        raise JsonFileError(f"{path}: step={doc['step']}: expected an integer >= 0")
    _check(path, {k: v for k, v in doc.items() if k not in ("split", "step")}, dict[str, float], "metrics")
    return doc


def read_eval_report(path: str | os.PathLike) -> dict:
    """An ``eval_<split>.json`` of tools/eval.py: ``split`` (str), ``adapter`` (str or None),
    ``max_samples`` (int >= 0), ``selection`` (object or None) and its scores (``before``, ``after``,
    ``recorded``, a zoo entry's name: ``{metric: number}``) checked where present."""
    path = Path(path)
    doc = read_json_object(path, "an evaluation report")
    if "split" not in doc:
        raise JsonFileError(f"{path}: no 'split'")
    _check(path, doc["split"], str, "split")
    for key, hint in (("adapter", str | None), ("max_samples", int), ("selection", dict | None),
                      ("before", dict[str, float]), ("after", dict[str, float]), ("recorded", dict[str, float])):
        if key in doc:
            _check(path, doc[key], hint, key)
    if doc.get("max_samples", 0) < 0:
        raise JsonFileError(f"{path}: max_samples={doc['max_samples']}: expected an integer >= 0")
    return doc
