"""A run's scalars: one JSON line per record in ``log.jsonl`` (the record the analysis tools read)
and the experiment trackers of Accelerate's ``log_with`` (``train.trackers``: TensorBoard under
``tb/`` by default; wandb, mlflow, ... when installed). Main process only."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from accelerate import Accelerator

from ..json_types import is_int
from ..jsonl import append_jsonl
from .checkpoint import CheckpointError

PROJECT = "lava-vision"  # the trackers' project (wandb project, mlflow experiment); TB: tb/<PROJECT>/
LOG_FILES = ("log.jsonl", "eval_history.jsonl")  # cut back to a checkpoint's sizes on --resume


def flat_config(d: dict, prefix: str = "") -> dict[str, str | int | float | bool]:
    """``{"optim": {"lr": 1e-4}}`` -> ``{"optim.lr": 1e-4}``; lists, dicts and None as JSON text
    (trackers' hyperparameters take scalars only)."""
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flat_config(v, f"{prefix}{k}."))
        elif isinstance(v, (str, int, float, bool)):
            out[f"{prefix}{k}"] = v
        else:
            out[f"{prefix}{k}"] = json.dumps(v)
    return out


class RunLog:
    """``log(step, {"loss": ...}, kind="train")`` writes one JSON line and sends ``kind/name`` scalars
    to every tracker. ``resume_step`` (resumed runs) hides TensorBoard events after that step,
    which the resumed run writes again."""

    def __init__(self, acc: Accelerator, run_dir: Path, config: dict, run_name: str,
                 resume_step: int | None = None) -> None:
        self.acc, self.run_dir, self.enabled = acc, run_dir, acc.is_main_process
        self.path = run_dir / "log.jsonl"
        tb = {"purge_step": resume_step + 1} if resume_step is not None else {}
        acc.init_trackers(PROJECT, config=flat_config(config), init_kwargs={
            "tensorboard": tb, "wandb": {"name": run_name, "dir": str(run_dir)}, "mlflow": {"run_name": run_name}})

    def log(self, step: int, values: dict[str, float], kind: str = "train", **extra: object) -> None:
        if not self.enabled:
            return
        append_jsonl(self.path, {"kind": kind, "step": step, "time": round(time.time(), 3), **extra,
                                 **{k: float(v) for k, v in values.items()}})
        self.acc.log({f"{kind}/{k}": float(v) for k, v in values.items()}, step=step)

    def log_images(self, step: int, paths: list[Path], tag: str = "pictures") -> None:
        """The evaluation's PNG panels as tracker images (``tag/<file stem>``)."""
        if not self.enabled or not paths:
            return
        import numpy as np
        from PIL import Image

        for p in paths:
            with Image.open(p) as im:
                image = np.asarray(im.convert("RGB"))
            for tracker in self.acc.trackers:
                if tracker.name == "tensorboard":  # SummaryWriter.add_images wants a batch and its layout
                    tracker.log_images({f"{tag}/{p.stem}": image[None]}, step, dataformats="NHWC")
                elif hasattr(tracker, "log_images"):
                    tracker.log_images({f"{tag}/{p.stem}": [image]}, step)

    def sizes(self) -> dict[str, int]:
        """Bytes of each log file now (stored with a checkpoint; see ``truncate_logs``)."""
        return {name: (self.run_dir / name).stat().st_size if (self.run_dir / name).exists() else 0
                for name in LOG_FILES}

    def close(self) -> None:
        self.acc.end_training()


def check_log_sizes(run_dir: Path, sizes: dict, where: str) -> None:
    """``sizes`` (a checkpoint's ``log_sizes``) may only name this run's own log files, as regular
    files inside ``run_dir`` (no symlink, no other name, no path), with a size in bytes between 0 and
    the file's size now; CheckpointError naming ``where`` and the key otherwise."""
    for name, size in sizes.items():
        if name not in LOG_FILES:
            raise CheckpointError(f"{where}: {name!r}: not a log file of a run folder (only {', '.join(LOG_FILES)} "
                                  "are cut back on --resume)")
        if not is_int(size) or size < 0:
            raise CheckpointError(f"{where}[{name!r}]={size!r}: expected a size in bytes (an integer >= 0)")
        path = run_dir / name
        if path.is_symlink() or path.exists() and not path.is_file():
            raise CheckpointError(f"{path}: not a regular file (a symlink or a folder); refusing to cut it back")
        if path.exists() and size > path.stat().st_size:
            raise CheckpointError(f"{where}[{name!r}]={size}: larger than {path} ({path.stat().st_size} bytes); "
                                  "the log is not the one this checkpoint was saved with")


def truncate_logs(run_dir: Path, sizes: dict[str, int]) -> None:
    """Cut each log file back to its size when the checkpoint was saved: the resumed run logs the
    steps after the checkpoint again, so their old lines would be duplicates (or half-written).
    Only the names of ``LOG_FILES`` inside ``run_dir`` are ever cut (``check_log_sizes``; the file
    is opened without following a symlink)."""
    check_log_sizes(run_dir, sizes, f"{run_dir}: log_sizes")
    for name, size in sizes.items():
        path = run_dir / name
        if path.exists() and path.stat().st_size > size:
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
