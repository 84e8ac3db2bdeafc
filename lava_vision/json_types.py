"""Type-check a value read from JSON against a dataclass field's type hint, before anything uses it.

Files from elsewhere (``adapter_config.json``, a zoo entry's ``config.json``) are parsed by
``json.loads`` into dicts, lists, strings, numbers, booleans and None; ``check_json`` refuses any
of those that does not fit the hint, naming the dotted key, and returns the value as the field
holds it (a JSON list as a tuple where the hint is a tuple, an int as a float where it is a float,
an integral float such as ``4.0`` as an int where it is an int). Hints it does not know (a class
of a task's own) let the value through unchanged: the dataclass that declares them checks them.
``read_json_file`` is the one reader of such files: whatever the bytes, it returns parsed JSON
nested at most ``MAX_DEPTH`` deep or raises JsonFileError naming the file (not valid UTF-8 / JSON,
a number too long to convert, a depth bomb that would otherwise end in a RecursionError here or in
any recursive code that walks the document later).
Standard library only, on the bottom floor (below adapters), so every layer may use it without importing torch.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from typing import Any


class JsonTypeError(ValueError):
    """A JSON value of the wrong type; the message names the dotted key."""


class JsonFileError(ValueError):
    """A file that is not JSON this project reads; the message names the file."""


MAX_DEPTH = 64  # nesting of lists/objects; the project's own files nest 6 deep at most


def is_int(value: Any) -> bool:
    """An int that is not a bool (``True`` is an int to Python, and a boolean in JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any, finite: bool = True) -> bool:
    """An int or float that is not a bool; with ``finite``, not NaN or an infinity either."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (not finite or math.isfinite(value))


def parse_json(text: str | bytes, where: str) -> Any:
    """``json.loads(text)`` nested at most ``MAX_DEPTH`` deep; JsonFileError naming ``where`` otherwise."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonFileError(f"{where}: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, an integer beyond int_max_str_digits
        raise JsonFileError(f"{where}: not valid JSON ({e})") from e
    stack = [(value, 1)]  # iteratively: the depth check itself must not recurse
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= MAX_DEPTH:
                    raise JsonFileError(f"{where}: JSON nested deeper than {MAX_DEPTH} levels")
                stack.append((child, depth + 1))
    return value


def read_json_file(path: str | os.PathLike) -> Any:
    """The parsed JSON of the file at ``path`` (``parse_json``); OSError (e.g. FileNotFoundError) as
    ``open`` raises it."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_json(data, str(path))


def read_json_object(path: str | os.PathLike, what: str) -> dict:
    """``read_json_file``, which must give a JSON object; JsonFileError naming the file and ``what`` it
    should have been otherwise."""
    doc = read_json_file(path)
    if not isinstance(doc, dict):
        raise JsonFileError(f"{path}: not {what} (a JSON object), got a JSON {type(doc).__name__}")
    return doc


def type_name(hint: Any) -> str:
    if typing.get_origin(hint) is None and hasattr(hint, "__name__"):
        return hint.__name__
    return str(hint).replace("typing.", "")


def check_json(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against ``hint`` (see the module docstring); raise JsonTypeError naming ``where``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    bad = JsonTypeError(f"{where}={_short(value)}: expected {type_name(hint)}")
    if hint is Any or hint is object:
        return value
    if hint is type(None) or hint is None:
        if value is None:
            return None
        raise bad
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return check_json(value, arg, where)
            except JsonTypeError:
                continue
        raise bad
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if hint is int:
        if is_int(value):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise bad
    if hint is float:
        if is_number(value, finite=False):
            return float(value)
        raise bad
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise JsonTypeError(f"{where}={_short(value)}: expected {len(args)} values, got {len(value)}")
            return tuple(check_json(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        elem = args[0] if args else Any
        items = [check_json(v, elem, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or hint) is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise bad
        kh, vh = args if len(args) == 2 else (Any, Any)
        return {check_json(k, kh, f"{where} key"): check_json(v, vh, f"{where}[{k!r}]") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise bad
        return value  # the caller builds the nested dataclass (train.config.dataclass_from_dict)
    if isinstance(hint, type) and hint.__module__ == "builtins" and not isinstance(value, hint):
        raise bad
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
