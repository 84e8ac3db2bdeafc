"""Every field ``--resume`` reads from ``trainer_state.pt``, checked before anything uses it.

A run folder is shared like any other file ("resume my checkpoint"), so its trainer state is
untrusted: it is loaded with ``weights_only=True`` (tensors, numbers, strings, lists, dicts only)
and then checked here, key by key, against what this run builds: the optimiser's parameter groups
and the shapes of its state, the data position against the schedule (steps per epoch at the saved
world size), the RNG states' sizes and ranges, and ``log_sizes`` against the run folder's own log
files. The first bad field raises CheckpointError naming the file and the key; nothing is loaded,
truncated or written before every field has passed (``TrainerState._load_checkpoint``).
"""
from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..json_types import is_int, is_number
from .checkpoint import CheckpointError
from .run_log import check_log_sizes

MAX_STEP = 10**9  # a sane bound: no run of this engine takes a billion optimiser steps
MAX_WORLD = 65536  # processes
MT_WORDS = 624  # the Mersenne Twister's state (numpy and python)


def _plain_setting(v: Any, mine: Any) -> bool:
    """An optimiser group setting: a flag where this run's optimiser has a flag (torch tests them with
    ``if``), else None, a finite number, a string, or a list / tuple of finite numbers; never a tensor."""
    if isinstance(mine, bool):
        return isinstance(v, bool) or v is None
    if v is None or isinstance(v, (bool, str)) or is_number(v):
        return True
    return isinstance(v, (list, tuple)) and all(is_number(x) for x in v)


class _Where:
    """Builds the error for one file: ``<path>: <key>=<value>: <what was expected>``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, value: Any, expected: str) -> CheckpointError:
        text = repr(value) if not isinstance(value, (dict, list, tuple, torch.Tensor)) else type(value).__name__
        if isinstance(value, torch.Tensor):
            text = f"tensor {tuple(value.shape)} {value.dtype}"
        return CheckpointError(f"{self.path}: {key}={text[:60]}: expected {expected}")

    def dict(self, value: Any, key: str, keys: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, value, "a dict" + (f" with keys {', '.join(keys)}" if keys else ""))
        missing = [k for k in keys if k not in value]
        if missing:
            raise CheckpointError(f"{self.path}: {key}: missing key {missing[0]!r}")
        return value

    def int(self, value: Any, key: str, low: int, high: int) -> int:
        if not is_int(value) or not low <= value <= high:
            raise self.fail(key, value, f"an integer in [{low}, {high}]")
        return value

    def tensor(self, value: Any, key: str, dtype: torch.dtype, shape: tuple[int, ...] | None = None,
               high: int | None = None) -> torch.Tensor:
        ok = isinstance(value, torch.Tensor) and value.dtype == dtype and not value.is_sparse
        ok = ok and (shape is None and value.dim() == 1 or shape is not None and tuple(value.shape) == shape)
        want = f"a {dtype} tensor of shape {shape}" if shape is not None else f"a 1-d {dtype} tensor"
        if not ok:
            raise self.fail(key, value, want)
        if high is not None and value.numel() and not (0 <= int(value.min()) and int(value.max()) < high):
            raise self.fail(key, value, f"{want} with values in [0, {high})")
        return value


def check_trainer_state(state: Any, path: Path, optimizer: torch.optim.Optimizer, run_dir: Path,
                        steps_per_epoch: Callable[[int], tuple[int, int]], grad_accum: int) -> dict:
    """``state`` as ``torch.load`` read it from ``path``, checked field by field; CheckpointError
    naming the file and key otherwise. ``steps_per_epoch(world_size)``: ``(batches per epoch, optimiser
    steps per epoch)`` of this run's data at that many processes (batch size and grad_accum cannot
    change on --resume, the world size can)."""
    w = _Where(path)
    w.dict(state, "trainer state", ("optimizer", "scheduler", "scaler", "rng", "world_size", "best", "position"))
    world = w.int(state["world_size"], "world_size", 1, MAX_WORLD)
    pos = w.dict(state["position"], "position", ("epoch", "batch", "global_step"))
    step = w.int(pos["global_step"], "position.global_step", 0, MAX_STEP)
    batches, per_epoch = steps_per_epoch(world)
    epoch = w.int(pos["epoch"], "position.epoch", 0, step // per_epoch)
    batch = w.int(pos["batch"], "position.batch", 0, batches)
    if epoch * per_epoch + math.ceil(batch / grad_accum) != step:
        raise CheckpointError(f"{path}: position.global_step={step} does not follow from position.epoch={epoch} "
                              f"and position.batch={batch} ({per_epoch} optimiser steps per epoch of {batches} "
                              f"batches at {world} processes, grad_accum {grad_accum})")
    best = state["best"]
    if best is not None and not is_number(best, finite=False):
        raise w.fail("best", best, "None or a number")  # NaN included: a first evaluation may give one
    scheduler = w.dict(state["scheduler"], "scheduler", ("last_epoch",))
    w.int(scheduler["last_epoch"], "scheduler.last_epoch", 0, step)  # behind global_step by fp16 skipped steps
    _check_scaler(w, state["scaler"])
    rng = state["rng"]
    if not isinstance(rng, list) or len(rng) != world:
        raise w.fail("rng", rng, f"a list of {world} per-process RNG states (world_size)")
    for i, one in enumerate(rng):
        _check_rng(w, one, f"rng[{i}]")
    _check_optimizer(w, state["optimizer"], optimizer)
    sizes = state.get("log_sizes", {})
    if not isinstance(sizes, dict):
        raise w.fail("log_sizes", sizes, "a dict of log file name -> size in bytes")
    check_log_sizes(run_dir, sizes, f"{path}: log_sizes")
    return state


def _check_scaler(w: _Where, scaler: Any) -> None:
    w.dict(scaler, "scaler")
    if not scaler:
        return  # no fp16 loss scaling when it was saved
    keys = ("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")
    w.dict(scaler, "scaler", keys)
    for k in keys:
        if not is_number(scaler[k]) or scaler[k] < 0 or (k == "scale" and scaler[k] == 0):
            raise w.fail(f"scaler.{k}", scaler[k], "a finite non-negative number" + (" > 0" if k == "scale" else ""))


def _check_rng(w: _Where, one: Any, key: str) -> None:
    w.dict(one, key, ("torch", "cuda", "numpy", "python"))
    w.tensor(one["torch"], f"{key}.torch", torch.uint8, tuple(torch.get_rng_state().shape))
    cuda = one["cuda"]
    if not isinstance(cuda, list):
        raise w.fail(f"{key}.cuda", cuda, "a list of CUDA RNG states")
    here = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and cuda else []
    if here and len(cuda) > len(here):
        raise w.fail(f"{key}.cuda", cuda, f"at most {len(here)} CUDA RNG states (the GPUs of this machine)")
    for i, c in enumerate(cuda):
        w.tensor(c, f"{key}.cuda[{i}]", torch.uint8, tuple(here[i].shape) if here else None)
    n = w.dict(one["numpy"], f"{key}.numpy", ("keys", "pos", "has_gauss", "cached_gaussian"))
    w.tensor(n["keys"], f"{key}.numpy.keys", torch.int64, (MT_WORDS,), high=2**32)
    w.int(n["pos"], f"{key}.numpy.pos", 0, MT_WORDS)
    w.int(n["has_gauss"], f"{key}.numpy.has_gauss", 0, 1)
    if not is_number(n["cached_gaussian"]):
        raise w.fail(f"{key}.numpy.cached_gaussian", n["cached_gaussian"], "a finite number")
    p = w.dict(one["python"], f"{key}.python", ("version", "internal", "gauss"))
    w.int(p["version"], f"{key}.python.version", random.Random.VERSION, random.Random.VERSION)
    internal = w.tensor(p["internal"], f"{key}.python.internal", torch.int64, (MT_WORDS + 1,), high=2**32)
    if int(internal[-1]) > MT_WORDS:
        raise w.fail(f"{key}.python.internal[-1]", int(internal[-1]), f"a position in [0, {MT_WORDS}]")
    if p["gauss"] is not None and not is_number(p["gauss"]):
        raise w.fail(f"{key}.python.gauss", p["gauss"], "None or a finite number")


def _probe_state(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor | None]:
    """The per-parameter state this optimiser class writes with these settings: one step of a copy
    of it on a 2-element parameter (torch-version independent)."""
    opt = getattr(optimizer, "optimizer", optimizer)  # Accelerate's wrapper
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.ones(2)
    accepted = inspect.signature(type(opt)).parameters  # defaults may hold more (AdamW: decoupled_weight_decay)
    probe = type(opt)([p], **{k: v for k, v in opt.defaults.items() if k in accepted})
    probe.step()
    return dict(probe.state[p])


def _check_optimizer(w: _Where, saved: Any, optimizer: torch.optim.Optimizer) -> None:
    w.dict(saved, "optimizer", ("state", "param_groups"))
    groups, states = saved["param_groups"], saved["state"]
    if not isinstance(groups, list) or len(groups) != len(optimizer.param_groups):
        raise w.fail("optimizer.param_groups", groups, f"a list of {len(optimizer.param_groups)} parameter groups "
                     "(this run's optimiser)")
    shapes: dict[int, torch.Size] = {}
    for i, (g, mine) in enumerate(zip(groups, optimizer.param_groups)):
        w.dict(g, f"optimizer.param_groups[{i}]", ("params",))
        ids = g["params"]
        if not isinstance(ids, list) or len(ids) != len(mine["params"]) or not all(is_int(x) for x in ids):
            raise w.fail(f"optimizer.param_groups[{i}].params", ids,
                         f"a list of {len(mine['params'])} parameter ids (this run's group)")
        for x, p in zip(ids, mine["params"]):
            if x in shapes:
                raise w.fail(f"optimizer.param_groups[{i}].params", ids, "parameter ids used once")
            shapes[x] = p.shape
        for k, v in g.items():  # the hyperparameters torch reads back (lr, betas, fused, capturable, ...)
            if k != "params" and not _plain_setting(v, mine.get(k)):
                raise w.fail(f"optimizer.param_groups[{i}].{k}", v, "a setting of the kind this run's optimiser "
                             "holds (a flag, a number, a name, a tuple of numbers)")
    w.dict(states, "optimizer.state")
    probe = _probe_state(optimizer)
    for pid, entry in states.items():
        key = f"optimizer.state[{pid!r}]"
        if pid not in shapes:
            raise w.fail(key, pid, "the id of a parameter of optimizer.param_groups")
        w.dict(entry, key, tuple(probe))
        for name, ref in probe.items():
            v = entry[name]
            if ref is None or not isinstance(ref, torch.Tensor):
                if not (v is None or is_number(v)):
                    raise w.fail(f"{key}.{name}", v, "None or a number")
                continue
            shape = () if ref.dim() == 0 else tuple(shapes[pid])
            if not isinstance(v, torch.Tensor) or v.is_sparse or tuple(v.shape) != shape or \
                    v.is_floating_point() != ref.is_floating_point():
                raise w.fail(f"{key}.{name}", v, f"a {'floating-point ' if ref.is_floating_point() else ''}tensor "
                             f"of shape {shape}")
