"""Sweeps over the toy recipe, in this process and as parallel processes."""
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import RECIPE  # noqa: E402

from lava_vision.analysis.sweep import (  # noqa: E402
    RecipeError,
    parse_sweep,
    plan_sweep,
    point_name,
    run_sweep,
    split_values,
    write_sweep_report,
)

ROOT = Path(__file__).resolve().parents[1]
FAST = ["eval.num_visualize=0", "train.epochs=1", "eval.every=0"]


def test_sweep_grammar():
    assert split_values("3,6,12") == ["3", "6", "12"]
    assert split_values("['a','b'],['c']") == ["['a','b']", "['c']"]
    assert parse_sweep(["adapter.rank=3,6", "adapter.lam=0.1"]) == {"adapter.rank": ["3", "6"], "adapter.lam": ["0.1"]}
    assert point_name("q", {"adapter.rank": "3", "adapter.lam": "0.05"}) == "q__rank3_lam0.05"
    assert point_name("q", {"optim.lr": "1e-3", "x.lr": "2"}) == "q__optim-lr1e-3_x-lr2"
    assert point_name("q", {"adapter.targets": "['fc1']"}) == "q__targetsfc1"
    with pytest.raises(RecipeError, match="distinct"):
        parse_sweep(["adapter.rank=3,3"])
    with pytest.raises(RecipeError, match="adapter.rnk"):  # refused before anything trains
        plan_sweep(RECIPE, parse_sweep(["adapter.rnk=1,2"]))


def test_sweep_runs_grid_reuses_finished_points_and_plots(tmp_path):
    sweep = parse_sweep(["adapter.rank=1,2", "adapter.lam=0.05,0.2"])
    sets = [f"output.root={tmp_path}", *FAST]
    runs = run_sweep(plan_sweep(RECIPE, sweep, sets), RECIPE)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["toy_recipe__rank1_lam0.05", "toy_recipe__rank1_lam0.2", "toy_recipe__rank2_lam0.05",
                     "toy_recipe__rank2_lam0.2"]
    assert [r.status for r in runs] == ["done"] * 4
    cfg = json.loads((tmp_path / "toy_recipe__rank2_lam0.05" / "config.json").read_text())
    assert (cfg["adapter"]["rank"], cfg["adapter"]["lam"]) == (2, 0.05)
    stamp = (tmp_path / "toy_recipe__rank1_lam0.2" / "metrics.json").stat().st_mtime_ns
    again = run_sweep(plan_sweep(RECIPE, sweep, sets), RECIPE)
    assert [r.status for r in again] == ["reused"] * 4
    assert (tmp_path / "toy_recipe__rank1_lam0.2" / "metrics.json").stat().st_mtime_ns == stamp
    paths = write_sweep_report(again, sweep, tmp_path / "report")
    assert sorted(p.name for p in paths) == ["comparison.csv", "comparison.md", "metric_vs_params.png", "sweep.png"]
    assert len((tmp_path / "report" / "comparison.md").read_text().splitlines()) == 2 + 4


def test_sweep_tool_trains_grid_and_reports(tmp_path, monkeypatch, capsys):
    sets = [f"output.root={tmp_path}", *FAST]
    run_tool(monkeypatch, "sweep.py", str(RECIPE), "--sweep", "adapter.lam=0.05,0.2", "--set", *sets)
    out = capsys.readouterr().out
    assert "| toy_recipe__lam0.05 | lava | 2 | 0.05 | 48 |" in out
    assert "| toy_recipe__lam0.2 | lava | 2 | 0.2 | 48 |" in out
    assert (tmp_path / "toy_recipe_sweep" / "sweep.png").is_file()
    with pytest.raises(SystemExit) as e:  # a bad key: one line on stderr, status 2, nothing trained
        run_tool(monkeypatch, "sweep.py", str(RECIPE), "--sweep", "adapter.rnk=1,2", "--set", *sets)
    assert e.value.code == 2 and "adapter.rnk" in capsys.readouterr().err


def test_parallel_sweep_runs_separate_processes(tmp_path):
    sweep = parse_sweep(["adapter.rank=1,2"])
    runs = plan_sweep(RECIPE, sweep, [f"output.root={tmp_path}", *FAST])
    run_sweep(runs, RECIPE, parallel=2, train_tool=ROOT / "tools" / "train.py", log_dir=tmp_path / "logs")
    assert [r.status for r in runs] == ["done", "done"], [r.error for r in runs]
    for rank in (1, 2):
        cfg = json.loads((tmp_path / f"toy_recipe__rank{rank}" / "config.json").read_text())
        assert cfg["adapter"]["rank"] == rank
        assert math.isfinite(json.loads((tmp_path / f"toy_recipe__rank{rank}" / "metrics.json").read_text())["mae"])
        assert "run folder:" in (tmp_path / "logs" / f"toy_recipe__rank{rank}.txt").read_text()


def test_sweep_reruns_a_finished_point_whose_config_differs(tmp_path):
    sweep = parse_sweep(["adapter.rank=1,2"])
    sets = [f"output.root={tmp_path}", *FAST, "train.max_steps=2"]
    run_sweep(plan_sweep(RECIPE, sweep, sets), RECIPE)
    # the same points with more steps: not "reused" with the 2-step results
    longer = run_sweep(plan_sweep(RECIPE, sweep, [*sets, "train.max_steps=3"]), RECIPE)
    assert [r.status for r in longer] == ["done", "done"]
    for r in longer:
        assert json.loads((r.run_dir / "metrics.json").read_text())["step"] == 3
        assert json.loads((r.run_dir / "config.json").read_text())["train"]["max_steps"] == 3
    aside = sorted(p.name.split(".replaced-")[0] for p in tmp_path.glob("*.replaced-*"))
    assert aside == ["toy_recipe__rank1", "toy_recipe__rank2"]  # the 2-step runs are kept, moved aside
    again = run_sweep(plan_sweep(RECIPE, sweep, [*sets, "train.max_steps=3"]), RECIPE)
    assert [r.status for r in again] == ["reused", "reused"]


def test_sweep_refuses_a_bad_value_before_training(tmp_path):
    with pytest.raises(RecipeError, match="sweep point .*eval.mode='Max'"):
        plan_sweep(RECIPE, parse_sweep(["eval.mode=max,Max"]), [f"output.root={tmp_path}"])
    assert not list(tmp_path.iterdir())


def test_report_split_scores_the_selected_checkpoint_on_test(tmp_path):
    from lava_vision.analysis.compare import summarize_run
    from lava_vision.analysis.sweep import report_sweep
    from lava_vision.train import evaluate, load_trained

    sweep = parse_sweep(["adapter.rank=1,2"])
    runs = run_sweep(plan_sweep(RECIPE, sweep, [f"output.root={tmp_path}", *FAST]), RECIPE)
    report_sweep(runs, RECIPE, "test", 2, ROOT / "tools" / "eval.py", tmp_path / "logs")
    assert [r.status for r in runs] == ["done", "done"], [r.error for r in runs]
    for r in runs:  # the reference: best/ (chosen on val) scored on test in this process
        task, model = load_trained(r.config, r.run_dir / "best")
        expected = evaluate(task, model, "test", 1, 0, precision="fp32")
        got = summarize_run(r.run_dir, "test").metrics
        assert math.isclose(got["mae"], expected["mae"], rel_tol=1e-6)
        assert not math.isclose(got["mae"], summarize_run(r.run_dir).metrics["mae"], rel_tol=1e-6)  # not val's
    stamp = (runs[0].run_dir / "eval_test.json").stat().st_mtime_ns
    report_sweep(runs, RECIPE, "test", 1, ROOT / "tools" / "eval.py", tmp_path / "logs")  # current: not redone
    assert (runs[0].run_dir / "eval_test.json").stat().st_mtime_ns == stamp
    write_sweep_report(runs, sweep, tmp_path / "report", split="test")
    rows = (tmp_path / "report" / "comparison.csv").read_text().splitlines()
    assert f"{summarize_run(runs[1].run_dir, 'test').metrics['mae']}" in rows[2]
    with pytest.raises(ValueError, match="selects best/ on 'val'"):
        report_sweep(runs, RECIPE, "val", 1, ROOT / "tools" / "eval.py", tmp_path / "logs")


def test_a_finished_point_from_before_a_new_option_is_reused(tmp_path):
    """A run whose config.json lacks a field added since (here train.tune_conv_paths, at its default)
    and carries a resume record is the same config: reused, not trained again."""
    sweep = parse_sweep(["adapter.rank=1"])
    sets = [f"output.root={tmp_path}", *FAST, "train.max_steps=2"]
    [run] = run_sweep(plan_sweep(RECIPE, sweep, sets), RECIPE)
    doc = json.loads((run.run_dir / "config.json").read_text())
    del doc["train"]["tune_conv_paths"]
    doc["resumed"] = [{"step": 1, "changed": {}}]
    (run.run_dir / "config.json").write_text(json.dumps(doc))
    assert [r.status for r in run_sweep(plan_sweep(RECIPE, sweep, sets), RECIPE)] == ["reused"]
    # a changed value is still another config; so is a config.json no reader accepts (here 100,000 nested
    # lists, which json.loads itself fails on): moved aside, kept, and run afresh
    doc["train"]["log_every"] = 7
    for text in (json.dumps(doc), "[" * 100_000 + "]" * 100_000):
        (run.run_dir / "config.json").write_text(text)
        assert [r.status for r in run_sweep(plan_sweep(RECIPE, sweep, sets), RECIPE)] == ["done"]
    assert len(list(tmp_path.glob("toy_recipe__rank1.replaced-*"))) == 2
