"""Validation of a parsed ``adapter_config.json`` by type and range, before anything uses it.

An adapter folder may come from anywhere (a colleague, a download), so every value the library
reads from the file is checked here first; a wrong one is an ``AdapterFileError`` naming the file
and the dotted key, raised before the model is touched. Layout (``io.save_adapter`` writes it)::

    {"format": "lava-vision-adapter", "format_version": 1, "library_version": str,
     "adapter_config": {AdapterConfig fields},
     "fingerprint": {"model_class": str, "adapted": {layer: {"type": str, "shape": [int, ...]}},
                     "saved": {tensor: [int, ...]}, "base_sha256": 64 hex digits | null},
     "trainable_params": int >= 0, "base_params": int >= 0,
     "metadata": {"task": str, "run": str, "epoch": int, "step": int, "metrics": {str: number},
                  "selection": {"kind": "best" | "last", "split", "metric", "mode": str | null,
                                "value": number | null, "step": int | null} | null, ...}}
"""
from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

from ..json_types import JsonTypeError, check_json
from .config import AdapterConfig

FORMAT = "lava-vision-adapter"
FORMAT_VERSION = 1
SHA256_RE = re.compile(r"[0-9a-f]{64}")
SELECTION_KINDS = ("best", "last")


class AdapterFileError(ValueError):
    """An adapter folder that cannot be loaded onto this model; the message names the culprit."""


def _error(message: str) -> Exception:
    return AdapterFileError(message)


def check_adapter_doc(doc: Any, path: str | Path) -> dict:
    """``doc`` (a parsed adapter_config.json) checked by type and range; returns it. Raises
    AdapterFileError naming ``path`` and the first bad key."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "adapter_config" not in doc \
            or "fingerprint" not in doc:
        raise _error(f"{path}: not a {FORMAT} config (missing format/adapter_config/fingerprint)")
    try:
        _check_doc(doc)
    except JsonTypeError as e:
        raise _error(f"{path}: {e}") from None
    adapter_config_of(doc, path)
    return doc


def adapter_config_of(doc: dict, path: str | Path) -> AdapterConfig:
    """The ``AdapterConfig`` of a document: every field type-checked, then ``validate()``."""
    data = doc["adapter_config"]
    if not isinstance(data, dict):
        raise _error(f"{path}: adapter_config={data!r:.60}: expected a mapping of AdapterConfig fields")
    hints = typing.get_type_hints(AdapterConfig)
    known = {f.name for f in dataclasses.fields(AdapterConfig)}
    unknown = sorted(str(k) for k in set(data) - known)
    if unknown:
        raise _error(f"{path}: adapter_config has unknown keys {unknown}; known: {sorted(known)}")
    try:
        checked = {k: check_json(v, hints[k], f"adapter_config.{k}") for k, v in data.items()}
        return AdapterConfig(**checked).validate()
    except (JsonTypeError, ValueError, TypeError) as e:  # AdapterConfigError is a ValueError
        raise _error(f"{path}: bad adapter_config ({e})") from None


def _check_doc(doc: dict) -> None:
    version = check_json(doc.get("format_version", FORMAT_VERSION), int, "format_version")
    if version != FORMAT_VERSION:
        raise JsonTypeError(f"format_version={version}: this library reads version {FORMAT_VERSION}")
    check_json(doc.get("library_version", ""), str, "library_version")
    for key in ("trainable_params", "base_params"):
        if key in doc and check_json(doc[key], int, key) < 0:
            raise JsonTypeError(f"{key}={doc[key]}: expected an integer >= 0")

    fp = check_json(doc["fingerprint"], dict[str, Any], "fingerprint")
    check_json(fp.get("model_class"), str, "fingerprint.model_class")
    for name, spec in check_json(fp.get("adapted", {}), dict[str, dict], "fingerprint.adapted").items():
        check_json(spec.get("type"), str, f"fingerprint.adapted[{name!r}].type")
        check_json(spec.get("shape"), list[int], f"fingerprint.adapted[{name!r}].shape")
    check_json(fp.get("saved", {}), dict[str, list[int]], "fingerprint.saved")
    digest = check_json(fp.get("base_sha256"), str | None, "fingerprint.base_sha256")
    if digest is not None and not SHA256_RE.fullmatch(digest):
        raise JsonTypeError(f"fingerprint.base_sha256={digest!r:.70}: expected 64 lower-case hex digits")

    meta = check_json(doc.get("metadata") or {}, dict[str, Any], "metadata")
    for key, hint in (("task", str), ("run", str), ("epoch", int), ("step", int | None),
                      ("metrics", dict[str, float])):
        if key in meta:
            check_json(meta[key], hint, f"metadata.{key}")
    selection = check_json(meta.get("selection"), dict[str, Any] | None, "metadata.selection")
    if selection is not None:
        if selection.get("kind") not in SELECTION_KINDS:
            raise JsonTypeError(f"metadata.selection.kind={selection.get('kind')!r}: expected one of {SELECTION_KINDS}")
        for key, hint in (("split", str | None), ("metric", str | None), ("mode", str | None),
                          ("value", float | None), ("step", int | None)):
            check_json(selection.get(key), hint, f"metadata.selection.{key}")
