"""JSON-lines files (run logs, caption metadata): one record per line."""
from __future__ import annotations

import json
from pathlib import Path

from .json_types import JsonFileError, parse_json


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, record)`` for every non-blank line; a bad line (not JSON, nested too deeply)
    raises JsonFileError (a ValueError) naming ``file:line``, a file that is not UTF-8 naming the file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonFileError(f"{path}: not UTF-8 text ({e})") from e
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        out.append((lineno, parse_json(line, f"{path}:{lineno}")))
    return out


def append_jsonl(path: str | Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
