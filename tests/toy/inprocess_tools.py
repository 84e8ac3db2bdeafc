"""Run a command-line tool in the test process, as ``python tools/<name> args...`` would."""
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_tool(monkeypatch, name: str, *args: str) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(ROOT / "tools" / name), run_name="__main__")
