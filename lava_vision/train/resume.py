"""What ``--resume`` does with a config that differs from the run's ``config.json`` (docs/resume.md).

One rule: a change either takes effect exactly as a fresh run with the new config would use it
from the resumed step on, or is refused before anything is written, naming the key.

- Refused (``FROZEN``): the keys that fix what is being trained and in which order: the task, the
  model, the data, the adapter, and ``train.batch_size``, ``train.grad_accum``, ``train.seed``,
  ``optim.name``, ``optim.module_lr`` (the optimiser's parameter groups), ``output``.
- Everything else applies from the resumed step: the optimiser's hyperparameters (lr, weight
  decay, betas, ...) are the new config's, and the lr schedule is the one a fresh run with the new
  config builds (its total steps from the new ``train.max_steps`` / ``train.epochs``), evaluated
  at the scheduler position saved in the checkpoint. The optimiser's moments are kept.
- ``config.json`` holds the config now in force plus ``"resumed"``: one record per resume that
  changed something, ``{"step": N, "changed": {key: [old, new]}}``; ``log.jsonl`` gets the same
  record as ``{"kind": "resume", ...}``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from ..json_types import JsonFileError
from .checkpoint import CheckpointError
from .config import RESUME_HISTORY as HISTORY_KEY
from .config import RunConfig
from .recipe import RecipeError
from .run_files import read_run_config_doc

# dotted prefixes of keys that cannot change on --resume
FROZEN = ("task", "model", "data", "adapter", "output", "optim.name", "optim.module_lr", "train.batch_size",
          "train.grad_accum", "train.seed")


def flat(d: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (dict-valued fields such as ``optim.module_lr`` stay leaves
    only when empty; their entries are compared one by one)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(saved: dict, current: dict) -> dict[str, list]:
    """``{dotted key: [saved value, current value]}`` for every key of ``saved`` whose value differs
    (JSON values); a key only ``current`` has (a field added by a later version) is not a change."""
    a = flat({k: v for k, v in saved.items() if k != HISTORY_KEY})
    b = flat({k: v for k, v in current.items() if k != HISTORY_KEY})
    return {k: [a[k], b.get(k)] for k in sorted(a) if a[k] != b.get(k)}


def is_frozen(key: str) -> bool:
    return any(key == f or key.startswith(f + ".") for f in FROZEN)


def check_resume_changes(changes: dict[str, list], where: str) -> None:
    """Raise RecipeError naming every changed key that cannot change on --resume."""
    frozen = [k for k in changes if is_frozen(k)]
    if frozen:
        detail = ", ".join(f"{k} ({changes[k][0]!r} -> {changes[k][1]!r})" for k in frozen)
        raise RecipeError(f"{where}: {detail} cannot change on --resume (it fixes the model, adapter, data or "
                          "batch order of the run; see docs/resume.md); start a new run with another output.name")


def config_json(cfg: RunConfig) -> dict:
    return json.loads(json.dumps(cfg.to_dict()))  # tuples as lists, as config.json holds them


def read_saved_config(run_dir: Path) -> dict | None:
    """The run folder's config.json (None when there is none); CheckpointError naming the file and key
    when it is not a JSON object with well-formed ``resumed`` records (``run_files.read_run_config_doc``)."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        return read_run_config_doc(path)
    except (OSError, JsonFileError) as e:
        raise CheckpointError(f"{e}; cannot tell what the run was trained with") from e


def resume_changes(cfg: RunConfig, saved: dict | None, run_dir: Path) -> dict[str, list]:
    """What ``cfg`` changes against the saved config.json; RecipeError when a key may not change."""
    changes = config_changes(saved, config_json(cfg)) if saved else {}
    check_resume_changes(changes, str(run_dir / "config.json"))
    return changes


def config_document(cfg: RunConfig, saved: dict | None, changes: dict[str, list], step: int) -> dict:
    """config.json's content: ``cfg`` plus the saved resume records and, if anything changed, this one."""
    doc = config_json(cfg)
    history = list((saved or {}).get(HISTORY_KEY, []))
    if changes:
        history.append({"step": step, "changed": changes})
    if history:
        doc[HISTORY_KEY] = history
    return doc


def group_hyperparameters(optimizer: torch.optim.Optimizer) -> list[dict]:
    """Each parameter group's settings (everything but the parameters), as built from the config."""
    return [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]


def restart_schedule(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                     fresh_groups: list[dict], position: int) -> None:
    """After ``optimizer.load_state_dict`` (which brings back the saved groups' lr, betas, ...): put the
    new config's group settings back and move the freshly built ``scheduler`` to ``position`` (its
    saved step count), so the lr is the one a fresh run with this config uses there."""
    if len(fresh_groups) != len(optimizer.param_groups):
        raise RecipeError(f"--resume: the optimiser has {len(fresh_groups)} parameter groups, the checkpoint "
                          f"{len(optimizer.param_groups)}")
    for group, fresh in zip(optimizer.param_groups, fresh_groups):
        group.update(fresh)
    # every schedule here is closed-form in last_epoch (LambdaLR, OneCycleLR): one step from
    # position - 1 sets the lr (and OneCycle's momentum) of step ``position``
    scheduler.last_epoch = position - 1
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
        scheduler.step()
