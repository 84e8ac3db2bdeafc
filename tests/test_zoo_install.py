"""A non-editable ``pip install .`` finds the shipped zoo entries without the checkout; the zoo root
follows --zoo-root / $LAVA_VISION_ZOO; writes into the installed package's copy are refused."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SNIPPET = """
import json, sys
from lava_vision import zoo
from lava_vision.zoo.index import locked
out = {"file": zoo.__file__, "root": str(zoo.zoo_root()), "names": [r["name"] for r in zoo.list()],
       "verified": zoo.verify(), "table": zoo.format_table(zoo.list())}
try:
    with locked():
        out["write"] = "allowed"
except zoo.ZooError as e:
    out["write"] = str(e)
print(json.dumps(out))
"""


def test_non_editable_install_lists_the_shipped_zoo(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("lava_vision", "zoo"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    # --target: nothing is installed into the shared environment; --no-deps: torch & co. come from it
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(src)], check=True, capture_output=True, timeout=300)
    shutil.rmtree(src)  # the checkout is gone: only the installed package remains
    env = {k: v for k, v in os.environ.items() if k != "LAVA_VISION_ZOO"}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", SNIPPET], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    shipped = json.loads((REPO / "zoo" / "index.json").read_text())["entries"]
    assert got["file"].startswith(str(site))
    assert got["root"] == str(site / "lava_vision" / "shipped_zoo")
    assert got["names"] == got["verified"] == sorted(shipped)
    assert all(name in got["table"] for name in shipped)
    assert "installed package" in got["write"] and "--zoo-root" in got["write"]
    env["LAVA_VISION_ZOO"] = str(tmp_path / "mine")  # the environment variable wins over the shipped copy
    out = subprocess.run([sys.executable, "-c", SNIPPET], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    got = json.loads(out.stdout)
    assert got["root"] == str(tmp_path / "mine") and got["names"] == [] and got["write"] == "allowed"
