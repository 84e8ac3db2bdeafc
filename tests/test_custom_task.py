"""A task of one's own, named as task="module:Class": the documented complete example runs as written
(its files and shell lines, extracted from docs/training.md), and a class that is not a Task is
refused naming what it lacks."""
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


def docs_example() -> tuple[dict[str, str], str]:
    """``({file name: source}, shell lines)`` of the "Your own model and data" section of docs/training.md."""
    text = (ROOT / "docs" / "training.md").read_text()
    section = re.split(r"\n#{2} ", text.split("## Your own model and data", 1)[1], maxsplit=1)[0]
    files, shell = {}, ""
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        if lang == "python":
            files[body.split("\n", 1)[0].split()[1].rstrip(":")] = body
        elif lang == "bash":
            shell += body
    return files, shell


def test_documented_custom_task_example_runs_end_to_end(tmp_path):
    files, shell = docs_example()
    assert sorted(files) == ["my_recipe.py", "my_task.py"] and "tools/train.py my_recipe.py" in shell
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    env = {**os.environ, "LAVA": str(ROOT), "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)  # the example's own PYTHONPATH=. is all it gets
    done = subprocess.run(["bash", "-e", "-c", shell], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "my_recipe"
    assert json.loads((run / "config.json").read_text())["task"] == "my_task:MyTask"
    assert (run / "best" / "adapter.safetensors").is_file()
    reported = json.loads((run / "eval_test.json").read_text())["after"]["acc"]

    # the reported test accuracy, recomputed by hand: the adapter loaded onto the user's model
    sys.path.insert(0, str(tmp_path))
    try:
        import my_task
        from lava_vision.adapters import load_adapter

        from safetensors.torch import load_file

        base = load_file(str(tmp_path / "my_net.safetensors"))  # the user's "pretrained" weights
        model = my_task.MyNet()
        model.load_state_dict(base)
        model = load_adapter(model, run / "best").eval()
        samples = my_task.make_split("test", 64)
        with torch.no_grad():
            logits = model(torch.stack([s["image"] for s in samples]))
        labels = torch.stack([s["label"] for s in samples])
        assert reported == pytest.approx((logits.argmax(1) == labels).double().mean().item(), abs=1e-6)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_task", None)


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


def test_task_registry_refuses_a_second_class_for_a_name_and_a_malformed_target():
    from lava_vision.train.task import TASKS, register_task

    register_task("classification", TASKS["classification"])  # the same again: accepted
    with pytest.raises(TaskError, match="'classification' already names 'lava_vision.tasks.classification"):
        register_task("classification", f"{__name__}:NotQuiteATask")
    with pytest.raises(TaskError, match="expected 'package.module:Class'"):
        register_task("half", "no_colon_here")
    assert "half" not in TASKS and TASKS["classification"].endswith(":ClassificationTask")
