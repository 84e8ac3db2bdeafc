"""The trainer's run folder and its place in training: a fresh start, ``last/`` saves (with the
rotation into ``checkpoints/``), and resuming from the newest checkpoint that loads.

``TrainerState`` is a mixin of ``Trainer`` (trainer.py): it reads and sets the trainer's
position (``epoch``, ``batch``, ``step``, ``best``, ``saved_step``) and its Accelerate objects.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from pathlib import Path
from time import monotonic
from typing import Any

from accelerate.utils import gather_object

from ..adapters import AdapterFileError, load_adapter
from .checkpoint import (
    ARCHIVE,
    STATE_NAME,
    CheckpointError,
    archived_checkpoints,
    load_trainer_state,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import RunConfig
from .data import EpochSampler
from .protocol import selection_record
from .resume import config_document, group_hyperparameters, restart_schedule
from .run_folder import clear_failed_run, discard_if_empty
from .run_log import truncate_logs
from .state_check import check_trainer_state


class TrainerState:
    cfg: RunConfig
    acc: Any  # accelerate.Accelerator
    run_dir: Path
    main: bool
    created_dir: bool
    epoch: int
    batch: int
    step: int
    best: float | None
    saved_step: int | None
    saved_config: dict | None
    changes: dict
    total_steps: int
    last_save_time: float

    def _start_fresh(self) -> None:
        self.acc.wait_for_everyone()
        if self.main:
            if self.run_dir.is_dir():
                clear_failed_run(self.run_dir)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._write_config()
        self.acc.wait_for_everyone()

    def _write_config(self) -> None:
        """config.json: the config now in force, plus one record per resume that changed something."""
        if self.changes:
            warnings.warn(f"resuming {self.run_dir} with a changed config: {', '.join(self.changes)}")
        doc = config_document(self.cfg, self.saved_config, self.changes, self.step)
        (self.run_dir / "config.json").write_text(json.dumps(doc, indent=2) + "\n")

    def _discard_if_empty(self) -> None:
        """A failed run leaves no folder behind unless it holds a checkpoint or a logged step."""
        if self.main and self.created_dir and discard_if_empty(self.run_dir):
            self.acc.print(f"removed {self.run_dir}: the run failed before saving or logging anything")

    def _metadata(self, metrics: dict | None = None, selection: dict | None = None) -> dict:
        return {"task": self.cfg.task, "run": self.run_dir.name, "epoch": self.epoch, "step": self.step,
                "metrics": metrics or {}, "selection": selection or selection_record(self.cfg, "last", self.step)}

    def save_last(self) -> None:
        """``last/`` at the current position; the one it replaces goes to checkpoints/ (``keep_last``)."""
        rng = gather_object([rng_state()])  # every process's RNG, in rank order (collective)
        if self.main:
            state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                     "scaler": self.acc.scaler.state_dict() if self.acc.scaler is not None else {},
                     "rng": rng, "world_size": self.acc.num_processes, "best": self.best,
                     "position": {"epoch": self.epoch, "batch": self.batch, "global_step": self.step},
                     "log_sizes": self.log.sizes()}
            keep = self.cfg.train.keep_last
            archive = None
            if keep > 1 and self.saved_step is not None and self.saved_step != self.step:
                archive = self.run_dir / ARCHIVE / f"step_{self.saved_step:07d}"
            save_checkpoint(self.run_dir, "last", self.raw, self._metadata(), state, archive=archive)
            prune_checkpoints(self.run_dir, keep - 1)
        self.saved_step, self.last_save_time = self.step, monotonic()
        self.acc.wait_for_everyone()

    def _load_checkpoint(self) -> tuple[Path, dict]:
        """The trainer state of last/, else of the newest archived checkpoint that loads and whose every
        field passes ``check_trainer_state`` (warning naming each one skipped); the adapter weights are
        loaded into the model."""
        errors = []
        for ckpt in [self.run_dir / "last", *archived_checkpoints(self.run_dir)]:
            if not ckpt.is_dir():
                continue
            try:
                state = check_trainer_state(load_trainer_state(ckpt), ckpt / STATE_NAME, self.optimizer, self.run_dir,
                                            self._steps_per_epoch, self.cfg.train.grad_accum)
                load_adapter(self.raw, ckpt)
                return ckpt, state
            except (CheckpointError, AdapterFileError) as err:
                errors.append(f"{ckpt}: {err}")
                warnings.warn(f"{ckpt} is unusable ({err}); trying the checkpoint before it")
        raise CheckpointError(f"{self.run_dir}: no usable checkpoint to resume from: " + "; ".join(errors))

    def _steps_per_epoch(self, world: int) -> tuple[int, int]:
        """``(batches, optimiser steps)`` per epoch of this run's data at ``world`` processes."""
        s = self.loader.sampler
        batches = EpochSampler(s.n, s.batch_size, s.seed, 0, world).batches_per_epoch
        return batches, math.ceil(batches / self.cfg.train.grad_accum)

    def _resume(self) -> None:
        ckpt, state = self._load_checkpoint()
        fresh = group_hyperparameters(self.optimizer)  # this config's lr, betas, ... (docs/resume.md)
        self.optimizer.load_state_dict(state["optimizer"])
        position = state["scheduler"]["last_epoch"]  # fp16 skipped steps leave it behind global_step
        if position <= self.total_steps:  # else (a shorter run than already trained) nothing trains
            restart_schedule(self.optimizer, self.scheduler, fresh, position)
        if self.acc.scaler is not None and state["scaler"]:
            self.acc.scaler.load_state_dict(state["scaler"])
        rank = self.acc.process_index
        if state["world_size"] == self.acc.num_processes:
            set_rng_state(state["rng"][rank])
        else:
            warnings.warn(f"resuming with {self.acc.num_processes} processes, saved with {state['world_size']}: "
                          "random streams restart from the seed")
        pos = state["position"]
        self.epoch, self.batch, self.step, self.best = pos["epoch"], pos["batch"], pos["global_step"], state["best"]
        self.saved_step = self.step
        self.acc.wait_for_everyone()
        if self.main:
            if ckpt.name != "last" and (self.run_dir / "last").is_dir():  # the unusable one: kept aside, not rotated
                shutil.rmtree(self.run_dir / "last.unusable", ignore_errors=True)
                os.rename(self.run_dir / "last", self.run_dir / "last.unusable")
                warnings.warn(f"{self.run_dir / 'last'} moved to last.unusable; resumed from {ckpt}")
            # lines logged after the checkpoint would be logged again; metrics.json is the end of a run
            truncate_logs(self.run_dir, state.get("log_sizes", {}))
            (self.run_dir / "metrics.json").unlink(missing_ok=True)
            self._write_config()
        self.acc.wait_for_everyone()
        self.acc.print(f"resumed {self.run_dir} from {ckpt.name}/ at step {self.step} (epoch {self.epoch}, "
                       f"batch {self.batch})")
