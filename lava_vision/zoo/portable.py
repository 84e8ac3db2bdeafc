"""Paths inside a stored config that survive a move to another machine or clone.

A run's ``config.json`` may hold absolute paths into this checkout (e.g. the committed base
``.../lava_vision/assets/depth_synthetic_base``). On publishing, every string that is an
absolute path inside the installed package becomes ``{pkg}/<relative>``, and one inside the
checkout (the package's parent folder) becomes ``{repo}/<relative>``; on loading, the prefixes
are replaced by this machine's folders. Relative paths (``datasets/...``) are left as they are:
like every recipe, they are relative to the working directory (run tools from the repo root).
Absolute paths elsewhere cannot be made portable; ``foreign_paths`` lists them for a warning.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PKG, REPO = "{pkg}", "{repo}"


def package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def repo_dir() -> Path:
    return package_dir().parent


def _relative(path: str, base: Path) -> str | None:
    try:
        rel = Path(os.path.normpath(path)).relative_to(base)
    except ValueError:
        return None
    return rel.as_posix()


def to_portable(value: Any) -> Any:
    """A copy of a JSON-like value with absolute package / checkout paths rewritten."""
    if isinstance(value, dict):
        return {k: to_portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_portable(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        for token, base in ((PKG, package_dir()), (REPO, repo_dir())):  # package first: it lies inside the repo
            rel = _relative(value, base)
            if rel is not None:
                return token if rel == "." else f"{token}/{rel}"
    return value


def from_portable(value: Any) -> Any:
    """Inverse of ``to_portable`` on this machine."""
    if isinstance(value, dict):
        return {k: from_portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_portable(v) for v in value]
    if isinstance(value, str):
        for token, base in ((PKG, package_dir()), (REPO, repo_dir())):
            if value == token or value.startswith(token + "/"):
                return str(base / value[len(token) + 1:]) if value != token else str(base)
    return value


def foreign_paths(value: Any, key: str = "") -> list[str]:
    """Dotted keys of absolute paths left in a portable config (they only work on this machine)."""
    if isinstance(value, dict):
        return [k for name, v in value.items() for k in foreign_paths(v, f"{key}.{name}" if key else name)]
    if isinstance(value, list):
        return [k for i, v in enumerate(value) for k in foreign_paths(v, f"{key}[{i}]")]
    return [f"{key}={value}"] if isinstance(value, str) and os.path.isabs(value) else []
