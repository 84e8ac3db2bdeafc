"""The command-line side of the zoo on a copy of the shipped zoo (LAVA_VISION_ZOO): list, verify
(also of a tampered copy), eval/visualize --zoo, and publish's refusals as one-line errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def zoo_copy(tmp_path) -> Path:
    root = tmp_path / "zoo"
    shutil.copytree(REPO / "zoo", root)
    return root


def run(args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAVA_VISION_ZOO": str(root)}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_list_and_verify(zoo_copy):
    top1 = json.loads((zoo_copy / "index.json").read_text())["entries"]["quickstart"]["metrics"]["top1"]
    out = run(["tools/zoo.py", "list"], zoo_copy)
    assert out.returncode == 0, out.stderr
    assert "quickstart" in out.stdout and f"top1={top1:.4g}" in out.stdout
    out = run(["tools/zoo.py", "verify"], zoo_copy)
    assert out.returncode == 0 and "ok:" in out.stdout, out.stderr
    with open(zoo_copy / "quickstart" / "adapter.safetensors", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    out = run(["tools/zoo.py", "verify", "quickstart"], zoo_copy)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "sha256" in out.stderr
    out = run(["tools/eval.py", "--zoo", "quickstart"], zoo_copy)  # nothing is evaluated from a tampered entry
    assert out.returncode == 2 and "sha256" in out.stderr


def test_eval_and_visualize_zoo_entry(zoo_copy, tmp_path):
    out = run(["tools/eval.py", "--zoo", "quickstart", "--out", str(tmp_path / "m.json")], zoo_copy)
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["zoo"] == "quickstart" and doc["quickstart"] == doc["recorded"]  # reproduced exactly
    out = run(["tools/visualize.py", "--zoo", "quickstart", "--num", "2", "--out", str(tmp_path / "pics")], zoo_copy)
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "pics").glob("*.png"))) == 2


def test_cli_refusals(zoo_copy, tmp_path):
    out = run(["tools/eval.py", "--zoo", "nope"], zoo_copy)
    assert out.returncode == 2 and "no entry 'nope'" in out.stderr
    out = run(["tools/publish.py", str(tmp_path), "--id", "x", "--recipe", "tasks/quickstart.py"], zoo_copy)
    assert out.returncode == 2 and "not a run folder" in out.stderr


def test_zoo_root_flag_wins_over_the_environment(zoo_copy, tmp_path):
    empty = tmp_path / "empty"
    out = run(["tools/zoo.py", "--zoo-root", str(zoo_copy), "list"], empty)  # $LAVA_VISION_ZOO points elsewhere
    assert out.returncode == 0 and "quickstart" in out.stdout, out.stderr
    out = run(["tools/zoo.py", "list"], empty)
    assert out.returncode == 0 and "(the zoo is empty)" in out.stdout
    out = run(["tools/eval.py", "--zoo", "quickstart", "--zoo-root", str(tmp_path / "nowhere")], zoo_copy)
    assert out.returncode == 2 and "no entry 'quickstart'" in out.stderr
