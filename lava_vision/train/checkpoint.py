"""Run-folder checkpoints: adapter files (``save_adapter``) plus ``trainer_state.pt``, written atomically.

A checkpoint is written into ``.<name>.tmp/``, then swapped in: ``<name>/`` -> ``.<name>.old/``,
``.<name>.tmp/`` -> ``<name>/``, delete ``.<name>.old/``. A kill while writing leaves ``<name>/``
untouched; a kill between the two renames leaves ``.<name>.old/``, which ``recover`` moves back.
``trainer_state.pt`` holds only tensors, numbers, strings, lists and dicts, so it is read with
``torch.load(weights_only=True)``.

Rotation: with ``archive``, the replaced checkpoint moves to ``checkpoints/step_<N>/`` instead of
being deleted, and ``prune_checkpoints`` keeps the newest few there (``--resume`` falls back to
them when ``last/`` is unreadable).

Why not ``Accelerator.save_state``: it writes the whole model's state dict (gigabytes of frozen base
weights for SDXL) where a run needs only the adapter, and its RNG file needs a pickle load; the
data position is our sampler's (epoch, batch), which resumes without loading skipped batches.
"""
from __future__ import annotations

import errno
import io
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


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full); the previous one is intact, the message says where."""


ARCHIVE = "checkpoints"  # run_dir/checkpoints/step_<N>/: older step checkpoints kept by rotation


def recover(run_dir: Path, name: str) -> None:
    """Finish a swap that a kill interrupted between its two renames."""
    final, old = run_dir / name, run_dir / f".{name}.old"
    if old.is_dir():
        if final.is_dir():
            shutil.rmtree(old)
        else:
            os.rename(old, final)


def save_checkpoint(run_dir: Path, name: str, model: nn.Module, metadata: dict,
                    trainer_state: dict | None = None, archive: Path | None = None) -> Path:
    """Atomically (re)write ``run_dir/name`` with the adapter files and, if given, the trainer state.
    With ``archive``, the checkpoint it replaces is moved there instead of deleted. Disk full while
    writing: CheckpointWriteError, the temporary folder removed, ``run_dir/name`` untouched."""
    recover(run_dir, name)
    final, tmp, old = run_dir / name, run_dir / f".{name}.tmp", run_dir / f".{name}.old"
    shutil.rmtree(tmp, ignore_errors=True)  # left by a kill during an earlier save
    try:
        save_adapter(model, tmp, metadata)
        if trainer_state is not None:
            buffer = io.BytesIO()  # torch.save to a file reports a full disk as a bare RuntimeError
            torch.save(trainer_state, buffer)
            write_synced(tmp / STATE_NAME, buffer.getvalue())
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = f"the previous checkpoint in {final} is intact" if final.is_dir() else "nothing was saved"
            raise CheckpointWriteError(f"{final}: no space left on the device while writing the checkpoint "
                                       f"({e.strerror or e}); {kept}. Free space, then continue with --resume") from e
        raise
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    if archive is not None and old.is_dir():
        shutil.rmtree(archive, ignore_errors=True)
        archive.parent.mkdir(parents=True, exist_ok=True)
        os.rename(old, archive)
    shutil.rmtree(old, ignore_errors=True)
    return final


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` and fsync it (the rename that publishes the folder must not outrun the data)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def archived_checkpoints(run_dir: Path) -> list[Path]:
    """``checkpoints/step_<N>/`` folders, newest step first."""
    folder = Path(run_dir) / ARCHIVE
    steps = [p for p in folder.glob("step_*") if p.is_dir() and p.name[5:].isdigit()] if folder.is_dir() else []
    return sorted(steps, key=lambda p: int(p.name[5:]), reverse=True)


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Keep the ``keep`` newest archived step checkpoints, delete the rest."""
    for path in archived_checkpoints(run_dir)[keep:]:
        shutil.rmtree(path, ignore_errors=True)


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
