"""The README's first screen, run as a new user would: a fresh clone of this repository, then every
command of the first screen's shell blocks exactly as printed, in one shell (``make demo``, the
``.venv`` activation, the tools), except ``make test``, which is this suite.

Installing torch again for each test run would download gigabytes, so the clone's ``.venv`` reuses
this interpreter's packages: a venv of the same base Python whose site-packages hold one ``.pth``
line naming this environment's site-packages (its own older setuptools removed, so the one torch
requires is seen). ``make demo``'s own steps (``python3 -m venv .venv``, ``pip install torch==...``,
``pip install -e ".[classification]"``) then run for real and offline (``PIP_NO_INDEX``): pip finds
every requirement satisfied and installs the clone, editable, into that venv. ``make demo`` takes
``DEMO_ARGS`` from the environment, as any make variable; the test shortens the training with it
(16 steps instead of 128) so that the whole test stays near a minute on 2 idle cores."""
from __future__ import annotations

import csv
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = Path("lava_vision") / "assets" / "cifar10_report_photos" / "test"


def first_screen_commands(readme: str) -> list[str]:
    """The lines of the ```bash blocks before the README's first ``## `` heading, as printed."""
    screen = readme.split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", screen, flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_the_first_screen_lists_the_demo_the_venv_and_the_tools():
    commands = first_screen_commands((ROOT / "README.md").read_text())
    assert commands[0].startswith("make demo") and any(c.startswith(". .venv/bin/activate") for c in commands)
    assert any(c.startswith("python tools/predict.py") for c in commands)


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make")
def test_the_readme_first_screen_runs_as_printed_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "lava-vision"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    base_python = Path(sys._base_executable)
    shims = tmp_path / "bin"  # `python3` on PATH: the base interpreter of this environment
    shims.mkdir()
    (shims / "python3").symlink_to(base_python)
    subprocess.run([str(base_python), "-m", "venv", str(clone / ".venv")], check=True, timeout=300)
    venv_site = next((clone / ".venv" / "lib").glob("python3*/site-packages"))
    (venv_site / "zz_reuse_test_environment.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run([str(clone / ".venv" / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", "setuptools"],
                   check=True, timeout=120)

    commands = [c for c in first_screen_commands((clone / "README.md").read_text()) if not c.startswith("make test")]
    script = "set -e\n" + "\n".join(commands) + "\n"
    env = {"PATH": f"{shims}:/usr/bin:/bin", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1",
           "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "DEMO_ARGS": "--set train.max_steps=16"}
    proc = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    demo, _, tools = out.partition("classification on split")  # make demo's output | tools/eval.py's and on

    # make demo installed only the demo's stamp, into the clone's .venv, and the package from the clone
    assert (clone / ".venv" / ".installed-demo").is_file() and not (clone / ".venv" / ".installed-test").exists()
    # ONE table, on the report photos: before (frozen base) < after (adapted), and the run folder once
    assert demo.count("run folder: ") == 1 and demo.count("metric ") == 1
    run = clone / re.search(r"run folder: (runs/demo-\S+)", demo).group(1)
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^(top1|top5|mean_class_acc)\s+([\d.]+)\s+([\d.]+)\s+[+-][\d.]+$", demo, flags=re.M)}
    assert set(rows) == {"top1", "top5", "mean_class_acc"}
    assert rows["top1"][1] > rows["top1"][0] + 0.05, rows
    n_report = sum(1 for _ in (clone / PHOTOS).rglob("*.jpg"))
    assert f"{n_report} report photos" in demo
    # the panels show report photos: one per class folder of test/, before and after
    classes = sorted(p.name for p in (clone / PHOTOS).iterdir())
    for when in ("before", "after"):
        names = sorted(p.name for p in (run / "panels" / when).glob("*.png"))
        assert [n.split("_", 1)[1].rsplit("_", 1)[0] for n in names] == classes, names
    # the tools after `. .venv/bin/activate`: predictions.csv names the classes, one row per photo
    for folder in ("birds", "birds_base"):
        with open(clone / "out" / folder / "predictions.csv", newline="") as f:
            table = list(csv.reader(f))
        assert table[0] == ["file", "class", *classes]
        assert sorted(r[0] for r in table[1:]) == sorted(p.name for p in (clone / PHOTOS / "bird").iterdir())
    assert "recorded" in tools  # tools/eval.py --zoo: recorded | now

    # a tool run outside the .venv says to activate it, instead of a bare ModuleNotFoundError
    outside = subprocess.run(["python3", "tools/predict.py", "--zoo", "cifar_resnet20_gaussian_noise", "--input",
                              str(PHOTOS / "bird"), "--out", "out/x"], cwd=clone, env=env, capture_output=True,
                             text=True, timeout=120)
    if "No module named" in outside.stderr:  # the base interpreter lacks torch (else nothing to say)
        assert outside.returncode == 2 and ". .venv/bin/activate" in outside.stderr, outside.stderr[-2000:]
