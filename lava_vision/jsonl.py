"""JSON-lines files (run logs, caption metadata): one record per line."""
from __future__ import annotations

import json
from pathlib import Path


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, record)`` for every non-blank line; a bad line raises ValueError naming
    ``file:line``."""
    path = Path(path)
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((lineno, json.loads(line)))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{lineno}: not a JSON line ({e})") from e
    return out


def append_jsonl(path: str | Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
