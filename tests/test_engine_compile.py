"""train.compile: the training step under torch.compile computes the same SGD steps as the dense float64
reference (the eager test's oracle), logs its first step's time, and bad settings are refused before
anything is built. aot_eager (dynamo + AOTAutograd, forward and backward graphs) stands in for inductor,
whose C++ code generation takes minutes on a 2-core machine; the inductor timing is docs/performance.md's."""
import json
import sys
from pathlib import Path

import pytest
import torch
from torch._dynamo import register_backend

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from toy_task import toy_config  # noqa: E402

from lava_vision.train import train  # noqa: E402
from lava_vision.train.recipe import RecipeError  # noqa: E402
from test_engine_train import QUIET, adapter_tensors, reference_sgd  # noqa: E402

SGD = ["optim.name=sgd", "optim.momentum=0", "optim.weight_decay=0", "optim.grad_clip=0", "optim.lr=0.5",
       "schedule.name=constant", "schedule.warmup_steps=0", "adapter.dropout=0", "adapter.lam=0.3",
       "train.batch_size=16", "train.max_steps=3", "eval.every=0", *QUIET]


def test_compiled_steps_equal_dense_sgd_reference(tmp_path):
    torch._dynamo.reset()
    cfg = toy_config(tmp_path, *SGD, "train.compile=true", "train.compile_backend=aot_eager")
    run = train(cfg)
    got = adapter_tensors(run / "last")
    for name, want in reference_sgd(cfg, steps=3, lr=0.5).items():
        torch.testing.assert_close(got[name].double(), want, atol=1e-6, rtol=0)
    assert got["fc1.B"].abs().sum() > 0
    logs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    warmup = [r for r in logs if r["kind"] == "compile"]
    assert len(warmup) == 1 and warmup[0]["step"] == 1 and warmup[0]["compile_warmup_s"] > 0


def test_training_steps_run_through_the_compiled_model(tmp_path):
    """A backend of the test's own counts the graphs dynamo hands it: the training step really runs
    compiled, and nothing is compiled with the option off (the default)."""
    graphs = []

    @register_backend(name="lava_test_counter")
    def counter(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    train(toy_config(tmp_path, *SGD, "train.compile=true", "train.compile_backend=lava_test_counter"))
    assert graphs
    graphs.clear()
    torch._dynamo.reset()
    train(toy_config(tmp_path / "b", *SGD))
    assert graphs == []


@pytest.mark.parametrize("overrides, match", [
    (["train.compile_backend=nonesuch"], "train.compile_backend='nonesuch'"),
    (["train.compile_mode=fast"], "train.compile_mode='fast'"),
    (["train.compile_backend=aot_eager", "train.compile_mode=max-autotune"], "needs train.compile_backend='inductor'"),
])
def test_bad_compile_settings_are_refused_before_building(tmp_path, overrides, match):
    with pytest.raises(RecipeError, match=match):
        train(toy_config(tmp_path, *SGD, "train.compile=true", *overrides))
    assert not (tmp_path / "toy_recipe").exists()
