"""Run names stay inside output.root: output.name is one folder name by the zoo-id rule
(lava_vision/names.py), refused before anything is written; a sweep's mixed-case names still pass."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import RECIPE, toy_config  # noqa: E402

from lava_vision.names import is_safe_name  # noqa: E402
from lava_vision.train import RecipeError, train  # noqa: E402
from lava_vision.train.validate import check_config  # noqa: E402


@pytest.mark.parametrize("name", ["../../escape", "../up", "a/b", "/abs/path", "..", ".hidden", "a\\b", "x" * 129,
                                  "sp ace", "nl\nx", "a:b"])
def test_run_names_that_leave_the_root_are_refused_before_writing(tmp_path, name):
    root = tmp_path / "root" / "runs"
    with pytest.raises(RecipeError, match=r"output.name=.*one folder name.*stays inside output.root"):
        train(toy_config(root, f"output.name={name}", "train.max_steps=1"))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == []


def test_the_train_tool_refuses_an_escaping_name_in_one_line(tmp_path, monkeypatch, capsys):
    root = tmp_path / "a" / "b"
    with pytest.raises(SystemExit) as e:
        run_tool(monkeypatch, "train.py", str(RECIPE), "--set", f"output.root={root}", "output.name=../../escape")
    assert e.value.code == 2
    assert "output.name='../../escape'" in capsys.readouterr().err
    assert not (tmp_path / "escape").exists() and not root.exists()


@pytest.mark.parametrize("name", ["toy_recipe", "cpV__init_cp_zeroU_lam0.1_seed2", "lr1e+3", "7", "run.v2-final"])
def test_ordinary_and_sweep_names_pass(tmp_path, name):
    check_config(toy_config(tmp_path, f"output.name={name}"))
    assert is_safe_name(name)


def test_a_custom_task_without_output_name_needs_one(tmp_path):
    cfg = toy_config(tmp_path)
    cfg.output.name, cfg.task = "", "toy_task:ToyTask"  # the folder would be named "toy_task:ToyTask"
    with pytest.raises(RecipeError, match=r"output.name='' \(task 'toy_task:ToyTask'\)"):
        check_config(cfg)


def test_every_zoo_id_is_an_adapter_name_and_none_holds_a_control_character():
    """Property over arbitrary strings (hypothesis): a name the zoo accepts is accepted by the adapter
    rule too (``zoo.load`` loads an entry's adapter under its id), and no rule accepts an empty name, a
    control character, a '/' or a '..' start; the adapter and zoo rules refuse '.'."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from lava_vision.adapters.named import check_name

    @settings(max_examples=400, deadline=None)
    @given(st.one_of(st.text(max_size=70), st.from_regex(r"[a-z0-9][a-z0-9._\n-]{0,65}", fullmatch=True)))
    def check(name):
        rules = {kind: is_safe_name(name, kind=kind) for kind in ("run", "adapter", "zoo")}
        if rules["zoo"]:
            assert rules["adapter"] and check_name(name) == name
        if any(rules.values()):
            assert name and name[0].isalnum() and "/" not in name and not name.startswith("..")
            assert not any(ord(c) < 32 or ord(c) == 127 for c in name)
        if rules["adapter"] or rules["zoo"]:
            assert "." not in name

    check()
