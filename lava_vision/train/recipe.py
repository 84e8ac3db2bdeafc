"""Recipes (plain Python files that assign a ``RunConfig`` to ``config``) and ``--set`` overrides.

An override is ``dotted.key=value``. The value is parsed and checked against the dataclass field's
type hint: int, float, bool, str, ``X | None``, tuples, lists and dicts (JSON or Python literal,
elements checked too). An unknown key is refused with the closest valid names.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import json
import os
import runpy
import types
import typing
from pathlib import Path
from typing import Any

from ..json_types import JsonTypeError, check_json
from .config import RunConfig

IMPORT_HINT = ("install its package or put the folder holding it on PYTHONPATH "
               "(e.g. PYTHONPATH=. python tools/train.py ...)")


class RecipeError(ValueError):
    """A recipe file or an override that cannot be used; the message names the file or key."""


def load_recipe(path: str | os.PathLike) -> RunConfig:
    """Execute the recipe file in a fresh namespace and return a deep copy of its ``config``.

    ``output.name`` defaults to the file's stem when the recipe leaves it empty.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    if path.suffix != ".py":
        raise RecipeError(f"{path}: a recipe is a Python file ending in .py")
    try:
        namespace = runpy.run_path(str(path), run_name=f"lava_recipe_{path.stem}")
    except RecipeError:
        raise
    except ModuleNotFoundError as e:  # most often a task module of one's own, not on the path
        raise RecipeError(f"{path}: executing the recipe failed: no module named {e.name!r}; {IMPORT_HINT}") from e
    except Exception as e:  # the recipe is user code: name the file, keep the cause chained
        raise RecipeError(f"{path}: executing the recipe failed: {type(e).__name__}: {e}") from e
    if "config" not in namespace:
        raise RecipeError(f"{path}: the recipe defines no module-level variable `config`")
    cfg = namespace["config"]
    if not isinstance(cfg, RunConfig):
        raise RecipeError(f"{path}: `config` is a {type(cfg).__name__}, expected a lava_vision RunConfig")
    cfg = copy.deepcopy(cfg)
    if not cfg.output.name:
        cfg.output.name = path.stem
    return cfg


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``key=value`` strings in order to ``cfg`` (in place) and return it."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RecipeError(f"--set {item!r}: expected key=value, e.g. optim.lr=3e-4")
        set_value(cfg, key, raw)
    return cfg


def set_value(cfg: RunConfig, key: str, raw: str) -> None:
    """Set the field at dotted ``key`` to ``raw`` parsed for the field's type."""
    parts = key.split(".")
    obj: Any = cfg
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if dataclasses.is_dataclass(obj):
            hints = typing.get_type_hints(type(obj))
            if part not in hints:
                raise RecipeError(_unknown_key(cfg, key))
            if last:
                value = parse_value(raw, hints[part], key)
                setattr(obj, part, value)
                return
            obj = getattr(obj, part)
        elif isinstance(obj, dict) and last:  # one entry of a dict field, e.g. optim.module_lr.head=10
            value_hint = _dict_value_hint(cfg, parts[:-1])
            obj[part] = parse_value(raw, value_hint, key)
            return
        else:
            raise RecipeError(_unknown_key(cfg, key))


def _dict_value_hint(cfg: RunConfig, parts: list[str]) -> Any:
    owner: Any = cfg
    for p in parts[:-1]:
        owner = getattr(owner, p)
    hint = typing.get_type_hints(type(owner)).get(parts[-1], Any)
    args = typing.get_args(hint)
    return args[1] if typing.get_origin(hint) is dict and len(args) == 2 else Any


def valid_keys(obj: Any, prefix: str = "") -> list[str]:
    """Every dotted leaf key of a config (dataclasses recursed; dicts are leaves)."""
    out = []
    for f in dataclasses.fields(obj):
        key = f"{prefix}{f.name}"
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.extend(valid_keys(value, key + "."))
        else:
            out.append(key)
    return out


def _unknown_key(cfg: RunConfig, key: str) -> str:
    keys = valid_keys(cfg)
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; valid keys include {', '.join(keys[:8])}, ..."
    return f"--set {key}: unknown key {key!r}{hint}"


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_value(raw: str, hint: Any, key: str) -> Any:
    """Parse the command-line string ``raw`` into a value of type ``hint``; raise naming ``key``."""
    raw = raw.strip()
    if isinstance(hint, str):  # a forward reference that could not be resolved: accept a literal
        hint = Any
    return _coerce(raw if hint is str else _literal(raw), hint, key, raw)


def _literal(raw: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return raw  # a bare word: a string


def _coerce(value: Any, hint: Any, key: str, raw: str) -> Any:
    """Check/convert an already-parsed value against ``hint``."""
    bad = RecipeError(f"--set {key}={raw}: expected {_hint_name(hint)}")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        for arg in [a for a in args if a is not type(None)]:
            try:
                return _coerce(value, arg, key, raw)
            except RecipeError:
                continue
        raise bad
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (str, int)) and str(value).lower() in _TRUE | _FALSE:
            return str(value).lower() in _TRUE
        raise bad
    if hint in (int, float):  # the JSON rule: 4.0 is the integer 4 (adapter.rank), an int is a float
        try:
            return check_json(value, hint, key)
        except JsonTypeError:
            raise bad from None
    if hint is str:
        return value if isinstance(value, str) else raw
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise bad
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise RecipeError(f"--set {key}={raw}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, key, raw) for v, a in zip(value, args))
        elem = args[0] if args else Any
        items = [_coerce(v, elem, key, raw) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise bad
        kh, vh = args if len(args) == 2 else (Any, Any)
        return {_coerce(k, kh, key, raw): _coerce(v, vh, key, raw) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        raise RecipeError(f"--set {key}: is a section; set one of its fields, e.g. {key}."
                          f"{dataclasses.fields(hint)[0].name}=...")
    if isinstance(value, hint):
        return value
    raise bad


def _hint_name(hint: Any) -> str:
    if typing.get_origin(hint) is None and hasattr(hint, "__name__"):
        return hint.__name__
    return str(hint).replace("typing.", "")
