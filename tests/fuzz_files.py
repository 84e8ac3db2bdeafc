"""Shared by the tests of files read from elsewhere (tests/test_untrusted_*.py): hypothesis settings,
a strategy for any JSON value, document mutation, a folder snapshot and the depth-bomb check."""
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**40) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6) | st.sampled_from(["../outside", "x:Y", "os:path", "lava", "Conv2d", "a" * 64]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)

# 100,000 deep fails json.loads itself; 900 parses, then bombs recursive code that walks the document
BOMB_DEPTHS = [100_000, 900]


def json_paths(doc, prefix=()) -> list[tuple]:
    """Every path into a JSON document (the root included)."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += json_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += json_paths(v, (*prefix, i))
    return out


def mutate(doc, data) -> object:
    """1-3 mutations of a copy of ``doc``: a value replaced by any JSON value, or a key deleted."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(json_paths(doc)))
        if not path:
            return data.draw(JSON)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)
    return doc


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def deep(depth: int) -> str:
    """A JSON document of ``depth`` nested lists."""
    return "[" * depth + "]" * depth


def assert_depth_bomb_refused(calls: list[Callable[[], object]], errors: type[BaseException], path: object,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """Each call raises ``errors`` (for SystemExit: prints to stderr) with a message naming ``path`` as too
    deeply nested or not JSON; before the JSON reader was shared, each was a raw RecursionError."""
    for call in calls:
        with pytest.raises(errors) as e:
            call()
        message = capsys.readouterr().err if errors is SystemExit else str(e.value)
        assert str(path) in message and ("nested deeper" in message or "not valid JSON" in message), message
