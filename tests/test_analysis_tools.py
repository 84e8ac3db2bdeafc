"""tools/analyze.py on a run folder, an adapter folder and a zoo entry of the toy task: numbers
against numpy on the saved factors, and the same CSV whichever way the adapter is reached."""
import csv
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import RECIPE, toy_config  # noqa: E402

from lava_vision.train import train  # noqa: E402

FAST = ["eval.num_visualize=0", "train.epochs=1", "eval.every=0"]


def test_analyze_tool_on_a_run_folder(tmp_path, monkeypatch, capsys):
    run = train(toy_config(tmp_path, *FAST))
    run_tool(monkeypatch, "analyze.py", str(run), "--recipe", str(RECIPE), "--out", str(tmp_path / "an"))
    rows = list(csv.DictReader(open(tmp_path / "an" / "spectra.csv")))
    assert [(r["layer"], r["view"], r["shape"]) for r in rows] == [("fc1", "matrix", "8x6"), ("fc2", "matrix", "2x8")]
    # the trained fc1 update is s * B A (s = alpha / rank = 1): numpy on the saved factors
    from safetensors.torch import load_file

    t = load_file(str(run / "best" / "adapter.safetensors"))
    dw = (t["fc1.B"].double() @ t["fc1.A"].double()).numpy()
    sv = np.linalg.svd(dw, compute_uv=False)
    assert float(rows[0]["sigma_max"]) == pytest.approx(sv[0], rel=1e-12)
    assert int(rows[0]["rank_tol"]) == np.linalg.matrix_rank(dw) == 2
    assert float(rows[0]["cond"]) == pytest.approx(sv[0] / sv[1], rel=1e-10)
    assert (tmp_path / "an" / "summary.png").is_file() and (tmp_path / "an" / "spectra_top.png").is_file()
    # an adapter folder inside the run: same numbers, default output <run>/analysis
    run_tool(monkeypatch, "analyze.py", str(run / "best"), "--recipe", str(RECIPE))
    assert (run / "analysis" / "spectra.csv").read_text() == (tmp_path / "an" / "spectra.csv").read_text()
    capsys.readouterr()
    monkeypatch.delitem(sys.modules["lava_vision.tasks"].TASKS, "toy")
    with pytest.raises(SystemExit) as e:  # the run's task is not registered: say how to fix it
        run_tool(monkeypatch, "analyze.py", str(run))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "unknown task 'toy'" in err and "--recipe" in err


def test_analyze_tool_on_a_zoo_entry(tmp_path, monkeypatch):
    from lava_vision.zoo.publish import publish

    run = train(toy_config(tmp_path, *FAST))
    publish(run, "toy-entry", root=tmp_path / "zoo", recipe=str(RECIPE))
    monkeypatch.setenv("LAVA_VISION_ZOO", str(tmp_path / "zoo"))
    run_tool(monkeypatch, "analyze.py", "--zoo", "toy-entry", "--out", str(tmp_path / "from_zoo"))
    run_tool(monkeypatch, "analyze.py", str(run), "--recipe", str(RECIPE), "--out", str(tmp_path / "from_run"))
    zoo_csv = (tmp_path / "from_zoo" / "spectra.csv").read_text()
    assert zoo_csv == (tmp_path / "from_run" / "spectra.csv").read_text() and zoo_csv.count("\n") == 3
