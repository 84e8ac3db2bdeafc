"""Every Python block of the README and of the documentation site (docs/) runs as written.

A page's blocks run in order, as one script, in a fresh folder and a fresh process (so a block may
use what an earlier block of the same page defined). Two kinds of block are not run here:
- a block whose first line names a file (``# my_task.py: ...``) is a file of a complete example;
  it is written into the folder first, and the page's own test runs the example
  (test_custom_task.py for docs/training.md);
- a block right after ``<!-- docs-test: skip (reason) -->`` needs what CI does not have (a trained
  run folder, a dataset, a GPU); the reason is required.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(?:^(<!--.*?-->)[ \t]*\n(?:[ \t]*\n)*)?^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((.+)\)\s*-->")
FILE_LINE = re.compile(r"#\s*([\w.-]+\.py)\b")


def python_blocks(text: str) -> list[tuple[str, str]]:
    """``(kind, source)`` of each Python block: kind is "run", "skip" or the file name it holds."""
    blocks = []
    for comment, body in FENCE.findall(text):
        first = body.split("\n", 1)[0]
        if comment and "docs-test" in comment:
            assert SKIP.fullmatch(comment.strip()), f"malformed marker {comment!r}: <!-- docs-test: skip (reason) -->"
            blocks.append(("skip", body))
        elif FILE_LINE.match(first):
            blocks.append((FILE_LINE.match(first).group(1), body))
        else:
            blocks.append(("run", body))
    return blocks


def test_block_finder():
    text = ("```python\nx = 1\n```\n\n<!-- docs-test: skip (needs a GPU) -->\n\n```python\ncuda()\n```\n"
            "```python\n# my_file.py: a file\ny = 2\n```\n```bash\nls\n```\n")
    assert python_blocks(text) == [("run", "x = 1\n"), ("skip", "cuda()\n"),
                                   ("my_file.py", "# my_file.py: a file\ny = 2\n")]
    with pytest.raises(AssertionError, match="malformed"):
        python_blocks("<!-- docs-test: skip -->\n```python\nx\n```\n")


def test_the_pages_have_python_examples():
    ran = [p.name for p in PAGES if any(k == "run" for k, _ in python_blocks(p.read_text()))]
    assert {"README.md", "adapters.md", "zoo.md", "predict.md"} <= set(ran)


@pytest.mark.parametrize("page", [p for p in PAGES if any(k == "run" for k, _ in python_blocks(p.read_text()))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_page_python_blocks_run(page, tmp_path):
    blocks = python_blocks(page.read_text())
    for kind, body in blocks:
        if kind not in ("run", "skip"):
            (tmp_path / kind).write_text(body)
    script = "\n".join(f"# --- block {i}\n{body}" for i, (kind, body) in enumerate(blocks) if kind == "run")
    (tmp_path / "page_blocks.py").write_text(script)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "page_blocks.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{page}: a Python block failed\n{done.stderr[-3000:]}"
