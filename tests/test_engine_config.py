"""Recipes, --set overrides, the config JSON round trip, schedules, optimiser groups, data order."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from toy_task import RECIPE, toy_config  # noqa: E402

from lava_vision.train import RecipeError, RunConfig, apply_overrides, load_recipe  # noqa: E402
from lava_vision.train.data import EpochSampler, eval_loader  # noqa: E402
from lava_vision.train.optim import Schedule, build_optimizer, build_scheduler  # noqa: E402


def test_load_recipe_defaults_name_and_returns_fresh_copies(tmp_path):
    a, b = load_recipe(RECIPE), load_recipe(RECIPE)
    assert isinstance(a, RunConfig) and a.output.name == "toy_recipe"
    a.optim.lr = 123.0
    assert b.optim.lr == 5e-2


@pytest.mark.parametrize("body, message", [
    ("x = 1\n", "no module-level variable `config`"),
    ("config = {'task': 'toy'}\n", "`config` is a dict"),
    ("raise RuntimeError('boom')\n", "executing the recipe failed: RuntimeError: boom"),
])
def test_bad_recipes_name_the_file(tmp_path, body, message):
    path = tmp_path / "bad.py"
    path.write_text(body)
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    assert str(path) in str(e.value) and message in str(e.value)
    with pytest.raises(RecipeError, match="missing.py: recipe file not found"):
        load_recipe(tmp_path / "missing.py")


def test_overrides_parse_and_check_types(tmp_path):
    cfg = toy_config(tmp_path, "optim.lr=3e-4", "adapter.rank=8", "train.gradient_checkpointing=true",
                     "optim.betas=[0.8, 0.95]", 'optim.module_lr={"fc2": 10}', "optim.module_lr.fc1=2",
                     "adapter.preset=none", "adapter.targets=['fc1']", "model.hidden=5", "eval.split=test",
                     "adapter.overrides={'fc1': {'rank': 1}}", "output.name=7")
    assert cfg.optim.lr == 3e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.adapter.rank == 8 and cfg.train.gradient_checkpointing is True
    assert cfg.optim.betas == (0.8, 0.95)
    assert cfg.optim.module_lr == {"fc2": 10.0, "fc1": 2.0} and isinstance(cfg.optim.module_lr["fc2"], float)
    assert cfg.adapter.preset is None and cfg.adapter.targets == ["fc1"]
    assert cfg.model.hidden == 5 and cfg.eval.split == "test" and cfg.output.name == "7"
    assert cfg.adapter.overrides == {"fc1": {"rank": 1}} and type(cfg.adapter.overrides["fc1"]["rank"]) is int
    apply_overrides(cfg, ["adapter.preset=cnn"])
    assert cfg.adapter.preset == "cnn"


@pytest.mark.parametrize("item, message", [
    ("optim.lrr=3", "unknown key 'optim.lrr'; did you mean optim.lr"),
    ("trian.epochs=3", "did you mean train.epochs"),
    ("adapter.rank=8.5", "adapter.rank=8.5: expected int"),
    ("train.gradient_checkpointing=maybe", "expected bool"),
    ("optim.betas=[0.9]", "expected 2 values, got 1"),
    ("optim.module_lr=[1]", "expected dict"),
    ("optim.lr=fast", "expected float"),
    ("optim", "expected key=value"),
    ("optim.lr.x=1", "unknown key"),
    ("train=1", "is a section"),
])
def test_bad_overrides_are_refused(tmp_path, item, message):
    with pytest.raises(RecipeError, match=message.replace("[", r"\[").replace(".", r"\.")):
        toy_config(tmp_path, item)


def test_config_json_round_trip(tmp_path):
    cfg = toy_config(tmp_path, "optim.betas=[0.8, 0.95]", 'optim.module_lr={"fc2": 10}')
    rebuilt = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert rebuilt == cfg and type(rebuilt.model).__name__ == "ToyModelConfig"


def test_schedules_match_closed_forms():
    # warmup: (s + 1) / W, then constant
    s = Schedule("constant", total_steps=10, warmup_steps=4)
    assert [s(i) for i in (0, 1, 3, 4, 9)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    # cosine after W=2 of T=10: p = (s - 2) / 8; m + (1 - m)(1 + cos(pi p)) / 2
    s = Schedule("cosine", total_steps=10, warmup_steps=2, min_lr_ratio=0.1)
    assert s(0) == pytest.approx(0.5) and s(2) == pytest.approx(1.0)
    assert s(6) == pytest.approx(0.55) and s(10) == pytest.approx(0.1)
    assert s(4) == pytest.approx(0.1 + 0.9 * (1 + math.sqrt(0.5)) / 2)
    # poly 0.9, no warmup: (1 - s/T)^0.9; 0.5^0.9 = 0.535886731...
    s = Schedule("poly", total_steps=10, power=0.9)
    assert s(0) == 1.0 and s(5) == pytest.approx(0.5358867313, abs=1e-9) and s(10) == 0.0


@pytest.mark.parametrize("name, hf_name, kwargs", [
    ("cosine", "cosine_with_min_lr", lambda lr, m, p: {"min_lr_rate": m}),
    ("poly", "polynomial", lambda lr, m, p: {"lr_end": m * lr, "power": p}),
])
def test_schedules_after_warmup_equal_transformers(tmp_path, name, hf_name, kwargs):
    """After the warmup our closed forms are transformers' get_scheduler schedules (oracle); during
    it ours is (s + 1) / W where transformers' is s / W (its first step has lr 0)."""
    from transformers import get_scheduler

    lr, m, power, T, W = 0.2, 0.1, 1.7, 12, 3
    cfg = toy_config(tmp_path, f"optim.lr={lr}", f"schedule.name={name}", f"schedule.min_lr_ratio={m}",
                     f"schedule.power={power}", f"schedule.warmup_steps={W}")
    ours = build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr), cfg, T)
    theirs = get_scheduler(hf_name, torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr), W, T,
                           scheduler_specific_kwargs=kwargs(lr, m, power))
    for step in range(T):
        a, b = ours.get_last_lr()[0], theirs.get_last_lr()[0]
        if step < W:
            assert a == pytest.approx(lr * (step + 1) / W, abs=1e-12)
        else:
            assert a == pytest.approx(b, abs=1e-12), step
        for sched in (ours, theirs):
            sched.optimizer.step()
            sched.step()


@pytest.mark.parametrize("optim", ["adamw", "sgd"])
def test_onecycle_is_torch_one_cycle_with_momentum(tmp_path, optim):
    """1cycle (Smith & Topin), W=3 of T=10: lr 1/25 -> 1 -> 1/(25e4) of the peak along half cosines,
    momentum the other way between the configured value and 0.85 of it."""
    lr, T, W, mom = 0.5, 10, 3, 0.9

    def cos_anneal(a, b, p):  # a at p = 0 to b at p = 1
        return b + (a - b) * (1 + math.cos(math.pi * p)) / 2

    cfg = toy_config(tmp_path, f"optim.name={optim}", f"optim.lr={lr}", "schedule.name=onecycle",
                     f"schedule.warmup_steps={W}", f"optim.momentum={mom}", f"optim.betas=[{mom}, 0.999]")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=lr) if optim == "adamw" else torch.optim.SGD([param], lr=lr, momentum=mom)
    sched = build_scheduler(opt, cfg, T)
    # torch's phases: warmup ends at step W - 1, the decay at T - 1
    for step in range(T):
        if step <= W - 1:
            want_lr, want_m = cos_anneal(lr / 25, lr, step / (W - 1)), cos_anneal(mom, 0.85 * mom, step / (W - 1))
        else:
            p = (step - (W - 1)) / (T - 1 - (W - 1))
            want_lr, want_m = cos_anneal(lr, lr / 25 / 1e4, p), cos_anneal(0.85 * mom, mom, p)
        group = opt.param_groups[0]
        got_m = group["betas"][0] if optim == "adamw" else group["momentum"]
        assert group["lr"] == pytest.approx(want_lr, abs=1e-12) and got_m == pytest.approx(want_m, abs=1e-12), step
        opt.step()
        sched.step()


def test_scheduler_drives_every_group_and_optimizer_groups(tmp_path):
    from lava_vision.train import build_run

    cfg = toy_config(tmp_path, "optim.lr=0.1", "optim.weight_decay=0.5", 'optim.module_lr={"fc2": 10}',
                     "adapter.modules_to_save=['fc1']", "adapter.targets=['fc2']", "schedule.name=poly",
                     "schedule.power=1.0", "schedule.warmup_steps=0")
    _, model, _ = build_run(cfg)
    opt = build_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.AdamW)
    groups = {(g["lr"], g["weight_decay"]): sorted(id(p) for p in g["params"]) for g in opt.param_groups}
    fc2 = sorted(id(getattr(model.fc2, n)) for n in model.fc2.factor_names)
    assert groups[(1.0, 0.5)] == fc2  # adapter factors of fc2: 10x lr, decayed
    assert groups[(0.1, 0.5)] == [id(model.fc1.weight)]
    assert groups[(0.1, 0.0)] == [id(model.fc1.bias)]  # no decay on biases
    sched = build_scheduler(opt, cfg, total_steps=4)
    for _ in range(2):
        opt.step()
        sched.step()
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([0.05, 0.05, 0.5])  # (1 - 2/4)^1
    assert isinstance(build_optimizer(model, toy_config(tmp_path, "optim.name=sgd")), torch.optim.SGD)


def test_epoch_sampler_is_deterministic_sharded_and_resumable():
    a = EpochSampler(10, batch_size=2, seed=3, rank=0, world=2)
    b = EpochSampler(10, batch_size=2, seed=3, rank=1, world=2)
    assert a.shard(0) == EpochSampler(10, 2, 3, 0, 2).shard(0)
    assert [i for i, _ in a.shard(0)] != [i for i, _ in a.shard(1)]
    both = a.shard(0) + b.shard(0)
    assert sorted(i for i, _ in both) == list(range(10)) and len({s for _, s in both}) == 10
    odd = [EpochSampler(7, 2, 3, r, 2) for r in (0, 1)]
    assert [len(list(s)) for s in odd] == [4, 4] and odd[0].batches_per_epoch == 2  # padded by wrap-around
    assert sorted(i for s in odd for i, _ in s)[:7] == list(range(7))
    a.set_position(1, start_batch=1)
    assert list(a) == a.shard(1)[2:] and len(a) == 3


def test_eval_loader_shards_are_disjoint_and_complete():
    data = [{"i": torch.tensor(i)} for i in range(9)]
    seen = [int(b["i"][k]) for r in (0, 1) for b in eval_loader(data, torch.utils.data.default_collate, 2, 0, r, 2)
            for k in range(len(b["i"]))]
    assert sorted(seen) == list(range(9))
    first5 = [int(b["i"][0]) for b in eval_loader(data, torch.utils.data.default_collate, 1, 5, 1, 2)]
    assert first5 == [1, 3]
