"""A run folder before and after a run: refuse to mix two runs, never leave an empty folder behind.

- a fresh run refuses a folder holding checkpoints (``--resume`` continues it);
- a fresh run in a folder left by a failed run (its files, no checkpoint) removes those files
  first, with a warning, so logs and TensorBoard events of the two runs never mix;
- a run that fails before its first checkpoint and first logged step removes the folder it made.
"""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .checkpoint import archived_checkpoints, recover
from .recipe import RecipeError
from .run_files import read_run_config_doc

if TYPE_CHECKING:
    from .config import RunConfig

# everything the trainer writes outside its checkpoints
RUN_FILES = ("config.json", "plan.txt", "log.jsonl", "eval_history.jsonl", "metrics.json", "tb", "pictures")
CHECKPOINTS = ("last", ".last.old", "best", ".best.old")


def has_checkpoint(run_dir: Path) -> bool:
    return any((run_dir / n).exists() for n in CHECKPOINTS) or bool(archived_checkpoints(run_dir))


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Raise before anything is built when the folder cannot be used as asked."""
    if resume:
        recover(run_dir, "last")
        if not (run_dir / "last").is_dir() and not archived_checkpoints(run_dir):
            raise FileNotFoundError(f"{run_dir}/last: nothing to resume (no checkpoint in this run folder)")
    elif has_checkpoint(run_dir):
        raise FileExistsError(f"{run_dir}: this run folder already holds checkpoints; pass --resume to continue "
                              "it, or choose another output.name")


def clear_failed_run(run_dir: Path) -> None:
    """Remove the files of an earlier run that saved no checkpoint (it cannot be resumed)."""
    found = [n for n in RUN_FILES if (run_dir / n).exists()]
    if found:
        warnings.warn(f"{run_dir}: removing {', '.join(found)} of an earlier run that saved no checkpoint "
                      "(starting clean)")
        for n in found:
            path = run_dir / n
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def trained_steps_logged(run_dir: Path) -> bool:
    path = run_dir / "log.jsonl"
    return path.is_file() and '"kind": "train"' in path.read_text()


def discard_if_empty(run_dir: Path) -> bool:
    """After a failure: remove ``run_dir`` (made by this run) unless it holds a checkpoint or a logged
    training step. Returns whether it was removed."""
    if not run_dir.is_dir() or has_checkpoint(run_dir) or trained_steps_logged(run_dir):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


def read_run_config(path: str | os.PathLike) -> RunConfig:
    """The ``config.json`` of a run folder, or of the run an adapter folder (``best/``, ``last/``) lies
    in: what ``tools/eval.py runs/NAME``, ``tools/predict.py --adapter`` and ``load_run`` build from
    when no recipe is given. FileNotFoundError when there is none."""
    from .config import RunConfig

    path = Path(path)
    for folder in (path, path.parent):
        if (folder / "config.json").is_file() and (folder is path or path.name in ("best", "last")):
            doc = read_run_config_doc(folder / "config.json")  # JsonFileError naming the file
            try:
                return RunConfig.from_dict(doc)
            except KeyError as e:  # an unknown task: its message without KeyError's quotes
                raise RecipeError(f"{folder / 'config.json'}: {e.args[0]}") from e
            except (ValueError, TypeError) as e:
                raise RecipeError(f"{folder / 'config.json'}: {e}") from e
    raise FileNotFoundError(f"{path}: no run folder config.json here (nor beside it); give the recipe the run was "
                            "trained with")
