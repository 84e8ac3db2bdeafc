"""A task of one's own, named as task="module:Class": docs/custom-tasks.md's complete example runs
as written (its files, shell lines and Python lines, extracted from the page; it also predicts
through the task's predict_image, checked against a hand computation), and a class that is not a
Task is refused naming what it lacks."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lava_vision.tasks import get_task
from lava_vision.train.task import TaskError

ROOT = Path(__file__).resolve().parents[1]


def example(page: Path, heading: str) -> tuple[dict[str, str], str, list[str]]:
    """``({file name: source}, shell lines, other Python snippets)`` of the section ``heading`` of
    ``page``; a Python block whose first line is ``# NAME.py...`` is the file NAME.py."""
    text = page.read_text()
    section = re.split(r"\n#{2,3} ", text.split(heading, 1)[1], maxsplit=1)[0]
    files, shell, snippets = {}, "", []
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        name = re.match(r"# (\w+\.py)\b", body)
        if lang == "python" and name:
            files[name.group(1)] = body
        elif lang == "python":
            snippets.append(body)
        elif lang == "bash":
            shell += body
    return files, shell, snippets


def run_shell(shell: str, folder: Path) -> None:
    env = {**os.environ, "LAVA": str(ROOT), "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)  # the page's own PYTHONPATH=. is all the example gets
    done = subprocess.run(["bash", "-e", "-c", shell], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


class NotQuiteATask:
    name = "half"
    model_config_cls = dict  # not a dataclass
    data_config_cls = None

    def build_model(self):
        return None


def test_a_class_that_is_not_a_task_is_refused_naming_what_it_lacks():
    with pytest.raises(TaskError) as e:
        get_task(f"{__name__}:NotQuiteATask")
    msg = str(e.value)
    for missing in ("class attribute loss_config_cls", "method build_dataset()", "method visualize()",
                    "model_config_cls must be a dataclass", "data_config_cls must be a dataclass",
                    "lava_vision/train/task.py"):
        assert missing in msg
    assert "build_model" not in msg


def test_task_names_that_cannot_be_used():
    with pytest.raises(TaskError, match="no module named 'no_such_pkg.tasks'.*PYTHONPATH"):
        get_task("no_such_pkg.tasks:MyTask")
    with pytest.raises(TaskError, match="has no 'Missing'"):
        get_task(f"{__name__}:Missing")
    with pytest.raises(KeyError, match="unknown task 'clasification'.*package.module:Class"):
        get_task("clasification")
    assert get_task("classification").__name__ == "ClassificationTask"


def hand_accuracy(folder: Path, adapter: Path) -> float:
    """The test accuracy recomputed by hand: the user's weights, load_adapter, the example's own split."""
    from safetensors.torch import load_file

    from lava_vision.adapters import load_adapter

    sys.path.insert(0, str(folder))
    try:
        import my_task

        model = my_task.MyNet()
        model.load_state_dict(load_file(str(folder / "my_net.safetensors")))
        model = load_adapter(model, adapter).eval()
        samples = my_task.make_split("test", 64)
        with torch.no_grad():
            logits = model(torch.stack([s["image"] for s in samples]))
        labels = torch.tensor([int(s["label"]) for s in samples])
        return (logits.argmax(1) == labels).double().mean().item()
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("my_task", None)


def hand_probabilities(folder: Path, adapter: Path, images: list[Path]) -> list[list[float]]:
    """The adapted model's class probabilities computed by hand: the user's weights, load_adapter, PIL."""
    import numpy as np
    from PIL import Image
    from safetensors.torch import load_file

    from lava_vision.adapters import load_adapter

    sys.path.insert(0, str(folder))
    try:
        import my_task

        model = my_task.MyNet()
        model.load_state_dict(load_file(str(folder / "my_net.safetensors")))
        load_adapter(model, adapter).eval()
        x = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255
                         for p in images])
        assert x.shape[-2:] == (16, 16)
        with torch.no_grad():
            return model(x).softmax(dim=1).tolist()
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("my_task", None)


def test_docs_custom_task_example_trains_evaluates_and_predicts(tmp_path, monkeypatch):
    """docs/custom-tasks.md: the example with predict_image, run as written (train, eval of the run
    folder alone, predict from the run and from a published zoo entry, the Python lines)."""
    files, shell, snippets = example(ROOT / "docs" / "custom-tasks.md", "## A complete example")
    assert sorted(files) == ["my_recipe.py", "my_task.py"] and "def predict_image" in files["my_task.py"]
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    run_shell(shell, tmp_path)
    run = tmp_path / "runs" / "my_recipe"
    assert json.loads((run / "config.json").read_text())["task"] == "my_task:MyTask"
    reported = json.loads((run / "eval_test.json").read_text())["after"]["acc"]
    assert reported == pytest.approx(hand_accuracy(tmp_path, run / "best"), abs=1e-6)
    images = sorted((tmp_path / "my_images").glob("*.png"))
    want = hand_probabilities(tmp_path, run / "best", images)
    for out in ("pred", "zoo_pred"):
        rows = (tmp_path / "out" / out / "predictions.csv").read_text().splitlines()
        assert rows[0] == "file,class,dark,bright"
        got = {r.split(",")[0]: [float(v) for v in r.split(",")[2:]] for r in rows[1:]}
        assert sorted(got) == [p.name for p in images]
        for p, probs in zip(images, want):
            assert got[p.name] == pytest.approx(probs, abs=1e-6)
    # the page's Python lines, in that folder, as a user would run them; each expression's value kept
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace, results = {}, []
    try:
        for node in ast.parse(snippets[0]).body:
            if isinstance(node, ast.Expr):
                results.append(eval(compile(ast.Expression(node.value), "docs", "eval"), namespace))
            else:
                exec(compile(ast.Module([node], type_ignores=[]), "docs", "exec"), namespace)
    finally:
        sys.modules.pop("my_task", None)
    assert list(results[0]) == ["dark", "bright"] and list(results[0].values()) == pytest.approx(want[0], abs=1e-6)
    assert results[1] == ("bright" if want[0][1] > want[0][0] else "dark")
