"""Run-folder checkpoints: adapter files (``save_adapter``) plus ``trainer_state.pt``, written atomically.

A checkpoint is written into ``.<name>.tmp/``, then swapped in: ``<name>/`` -> ``.<name>.old/``,
``.<name>.tmp/`` -> ``<name>/``, delete ``.<name>.old/``. A kill while writing leaves ``<name>/``
untouched; a kill between the two renames leaves ``.<name>.old/``, which ``recover`` moves back.
``trainer_state.pt`` holds only tensors, numbers, strings, lists and dicts, so it is read with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..adapters import read_adapter_config, save_adapter
from ..adapters.io import CONFIG_NAME

STATE_NAME = "trainer_state.pt"


class CheckpointError(FileNotFoundError):
    """No usable checkpoint where one was asked for; the message names the path."""


def recover(run_dir: Path, name: str) -> None:
    """Finish a swap that a kill interrupted between its two renames."""
    final, old = run_dir / name, run_dir / f".{name}.old"
    if old.is_dir():
        if final.is_dir():
            shutil.rmtree(old)
        else:
            os.rename(old, final)


def save_checkpoint(run_dir: Path, name: str, model: nn.Module, metadata: dict,
                    trainer_state: dict | None = None) -> Path:
    """Atomically (re)write ``run_dir/name`` with the adapter files and, if given, the trainer state."""
    recover(run_dir, name)
    final, tmp, old = run_dir / name, run_dir / f".{name}.tmp", run_dir / f".{name}.old"
    shutil.rmtree(tmp, ignore_errors=True)  # left by a kill during an earlier save
    save_adapter(model, tmp, metadata)
    if trainer_state is not None:
        with open(tmp / STATE_NAME, "wb") as f:
            torch.save(trainer_state, f)
            f.flush()
            os.fsync(f.fileno())
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_trainer_state(checkpoint_dir: Path) -> dict:
    path = Path(checkpoint_dir) / STATE_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no trainer state to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types; name the file
        raise CheckpointError(f"{path}: unreadable trainer state ({type(e).__name__}: {e})") from e


def find_adapter_dir(path: str | os.PathLike) -> Path:
    """An adapter folder itself, or a run folder -> its ``best/``, else its ``last/``."""
    path = Path(path)
    if (path / CONFIG_NAME).is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such adapter or run folder")
    for name in ("best", "last"):
        recover(path, name)
        if (path / name / CONFIG_NAME).is_file():
            read_adapter_config(path / name)  # refuses a foreign or broken config early
            return path / name
    raise CheckpointError(f"{path}: neither an adapter folder ({CONFIG_NAME}) nor a run folder with best/ or last/")


def rng_state() -> dict[str, Any]:
    """This process's torch, CUDA, numpy and python RNG states, as weights_only-loadable values."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_version, "internal": torch.tensor(py_internal, dtype=torch.int64),
                   "gauss": py_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"].tolist()), p["gauss"]))
