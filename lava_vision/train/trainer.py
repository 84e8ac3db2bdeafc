"""The generic trainer: any Task, any adapter method, one process or many (Accelerate / torchrun).

One optimiser step = ``train.grad_accum`` micro-batches of ``train.batch_size`` per process; the
loss of each is ``task loss + orthogonal_penalty(model)``. Run folder layout, checkpoints (cadence,
rotation, SIGINT/SIGTERM, fallback), resume semantics and the non-finite-loss stop are described in
docs/training.md. Saving and resuming live in trainer_state.py, the signal handling in stopping.py.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import math
import sys
import time
from pathlib import Path
from time import monotonic

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, send_to_device, set_seed
from tqdm.auto import tqdm

from ..adapters import orthogonal_penalty, train_mode
from ..adapters.autotune import tune_conv_paths
from ..jsonl import append_jsonl
from .build import build_run, enable_gradient_checkpointing, resolve_precision
from .checkpoint import save_checkpoint
from .config import RunConfig
from .data import train_loader
from .diagnostics import GradientWindow, layer_orthogonality_errors
from .evaluation import batch_len, evaluate
from .memory import peak_memory_mb, reset_peak_memory
from .optim import build_optimizer, build_scheduler
from .protocol import check_selection, selection_record
from .resume import read_saved_config, resume_changes
from .run_folder import check_run_dir
from .run_log import RunLog
from .stopping import StopRequest, TrainingInterrupted
from .task import get_task
from .trainer_state import TrainerState
from .validate import check_config, check_task_config

__all__ = ["NonFiniteLossError", "Trainer", "TrainingInterrupted", "run_dir_of", "train"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped without overwriting the last checkpoint."""


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.output.root) / (cfg.output.name or cfg.task)


class Trainer(TrainerState):
    """Holds the state of one run; ``train(cfg, resume)`` is the entry point. Run folder, ``last/``
    saves and resuming: ``TrainerState`` (trainer_state.py)."""

    def __init__(self, cfg: RunConfig, resume: bool = False) -> None:
        self.cfg, t, e = cfg, cfg.train, cfg.eval
        # Everything checkable without the model, before anything is built or written
        check_config(cfg)
        check_selection(cfg)  # best/ is never chosen on a test split without an explicit opt-in
        self.task = get_task(cfg.task)(cfg)
        check_task_config(cfg, self.task)
        self.run_dir = run_dir_of(cfg)
        check_run_dir(self.run_dir, resume)
        self.saved_config = read_saved_config(self.run_dir) if resume else None
        self.changes = resume_changes(cfg, self.saved_config, self.run_dir)  # refused ones: before any write
        on_gpu = torch.cuda.is_available()
        self.precision = resolve_precision(t.precision, torch.device("cuda" if on_gpu else "cpu"))
        # Accelerate keeps one global AcceleratorState, fixed at its first mixed_precision; dropping it
        # (not the process group) lets a second run in this process use another precision. Accelerate
        # has no public API for this.
        AcceleratorState._reset_state(reset_partial_state=False)
        # cpu=True without a GPU, or a CPU-only torchrun launch would run N independent processes
        ddp = DistributedDataParallelKwargs(find_unused_parameters=t.find_unused_parameters)
        self.acc = Accelerator(mixed_precision="no" if self.precision == "fp32" else self.precision, cpu=not on_gpu,
                               kwargs_handlers=[ddp], log_with=list(t.trackers),
                               project_config=ProjectConfiguration(project_dir=str(self.run_dir),
                                                                   logging_dir=str(self.run_dir / "tb")))
        self.main = self.acc.is_main_process
        self.created_dir = not self.run_dir.exists()
        reset_peak_memory(self.acc.device)
        # the datasets before the model: a missing data folder must not cost a model load
        train_set = self.task.build_dataset("train")
        self.task.build_dataset(e.split)
        set_seed(t.seed)  # the adapter initialisation depends on the seed only
        _, model, self.plan = build_run(cfg, self.task)
        if t.gradient_checkpointing:
            enable_gradient_checkpointing(self.task, model)
        optimizer = build_optimizer(model, cfg)
        self.loader = train_loader(train_set, self.task.collate, t.batch_size, t.seed,
                                   self.acc.process_index, self.acc.num_processes, t.num_workers,
                                   pin_memory=self.acc.device.type == "cuda")
        self.steps_per_epoch = math.ceil(self.loader.sampler.batches_per_epoch / t.grad_accum)
        self.total_steps = t.max_steps if t.max_steps > 0 else t.epochs * self.steps_per_epoch
        self.scheduler = build_scheduler(optimizer, cfg, self.total_steps)
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.raw = self.acc.unwrap_model(self.model)
        # train.compile: a compiled view of the (prepared) model for training steps only; it shares the
        # parameters, so saving (self.raw) and evaluation (eager: other batch sizes, no backward) are untouched
        mode = None if t.compile_mode == "default" else t.compile_mode  # a mode is inductor's only
        self.step_model = torch.compile(self.model, backend=t.compile_backend, mode=mode) if t.compile else self.model
        self.grad_window = GradientWindow(self.raw) if t.diagnostics and self.main else None
        self.epoch, self.batch, self.step = 0, 0, 0  # position: epoch, micro-batch within it, optimiser steps
        self.best: float | None = None
        self.saved_step: int | None = None  # step of the checkpoint in last/
        self.last_save_time = monotonic()
        self.stop = StopRequest(self.acc.print)
        try:
            if resume:
                self._resume()  # config.json is rewritten only once a checkpoint has loaded
            else:
                self._start_fresh()
            self.log = RunLog(self.acc, self.run_dir, cfg.to_dict(), self.run_dir.name,
                              resume_step=self.step if resume else None)
            if self.changes:
                self.log.log(self.step, {}, kind="resume", changed=self.changes)
        except BaseException:
            self._discard_if_empty()
            raise
        if self.main:
            (self.run_dir / "plan.txt").write_text(str(self.plan) + "\n")
        self.acc.print("\n".join(str(self.plan).splitlines()[-2:]))

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(self, final: bool = False) -> dict[str, float]:
        e = self.cfg.eval
        pictures = self.run_dir / "pictures" / f"step_{self.step:07d}"
        metrics = evaluate(self.task, self.raw, e.split, e.batch_size, e.max_samples, precision=self.precision,
                           pictures_dir=pictures if e.num_visualize > 0 else None, num_pictures=e.num_visualize)
        self.log.log(self.step, metrics, kind=f"eval_{e.split}", epoch=self.epoch)
        if self.main and e.num_visualize > 0 and pictures.is_dir():
            self.log.log_images(self.step, sorted(pictures.glob("*.png")))
        if self.main:
            append_jsonl(self.run_dir / "eval_history.jsonl",
                         {"step": self.step, "epoch": self.epoch, "split": e.split, "final": final, **metrics})
        if e.main_metric:
            if e.main_metric not in metrics:  # a task without metric_names(): keep the weights, then stop
                if self.saved_step != self.step:
                    self.save_last()
                raise KeyError(f"eval.main_metric={e.main_metric!r} is not among the metrics {sorted(metrics)}; "
                               f"the weights are saved in {self.run_dir / 'last'}: fix it and continue with --resume")
            value = metrics[e.main_metric]
            better = self.best is None or (value > self.best if e.mode == "max" else value < self.best)
            if better:
                self.best = value
                if self.main:
                    save_checkpoint(self.run_dir, "best", self.raw, self._metadata(
                        metrics, selection_record(self.cfg, "best", self.step, value)))
                self.acc.wait_for_everyone()
        return metrics

    # ---- training ------------------------------------------------------------------------------
    def _micro_step(self, batch: dict, last: bool, n_micro: int) -> dict[str, float]:
        ctx = contextlib.nullcontext() if last else self.acc.no_sync(self.model)
        with ctx:
            out = self.task.training_step(self.step_model, send_to_device(batch, self.acc.device))
            reg = orthogonal_penalty(self.raw)
            loss = out["loss"] + reg
            finite = self.acc.reduce(torch.isfinite(loss.detach()).float().reshape(1), "sum")
            if finite.item() < self.acc.num_processes:
                kept = f"the last good checkpoint is {self.run_dir / 'last'}" if self.saved_step is not None \
                    else "no checkpoint was saved"
                raise NonFiniteLossError(f"step {self.step + 1}: the loss is not finite "
                                         f"(task loss {out['loss'].item()}, regulariser {reg.item()}); stopped, {kept}")
            self.acc.backward(loss / n_micro)
        values = {k: v.detach().float().item() for k, v in out.items()
                  if isinstance(v, torch.Tensor) and v.numel() == 1}
        values["orth_penalty"] = reg.detach().float().item()
        return values

    def _tune_conv_paths(self, batch: dict) -> None:
        """train.tune_conv_paths: time every path of each CP conv on ``adapter.conv_path=auto`` on this
        batch and keep the fastest (a path set explicitly stays). All paths compute the same update (to
        rounding), so only speed changes; the random streams and the BatchNorm statistics are left as
        they were, so a tuned run trains on the same draws."""
        started = time.perf_counter()
        with torch.random.fork_rng(devices=[self.acc.device] if self.acc.device.type == "cuda" else []):
            was_training = self.raw.training
            self.raw.eval()  # the forward that finds each conv's input must not move running statistics
            try:
                with self.acc.autocast():  # timed in the precision the steps run in (bf16 / fp16 where set)
                    chosen = tune_conv_paths(self.raw, lambda: self.task.training_step(
                        self.raw, send_to_device(batch, self.acc.device)), auto_only=True)
            finally:
                self.raw.train(was_training)
        took = time.perf_counter() - started
        self.log.log(self.step, {"tune_s": took}, kind="conv_paths", chosen=chosen)
        counts = ", ".join(f"{path} {sum(c == path for c in chosen.values())}" for path in sorted(set(chosen.values())))
        self.acc.print(f"train.tune_conv_paths: {len(chosen)} CP convs timed in {took:.1f} s"
                       + (f" ({counts})" if chosen else " (none on adapter.conv_path=auto)"))

    def _optimizer_step(self) -> None:
        self.step_lr = self.scheduler.get_last_lr()[0]  # the lr this step uses, for the log
        clip = self.cfg.optim.grad_clip
        if clip > 0:
            self.acc.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], clip)
        if self.grad_window is not None:
            if clip <= 0:
                self.acc.unscale_gradients()  # fp16: the window must see true gradients (clip unscales)
            self.grad_window.record()
            if (self.step + 1) % self.cfg.train.log_every == 0:
                self.log.log(self.step + 1, {**self.grad_window.flush(), **layer_orthogonality_errors(self.raw)},
                             kind="diag")
        self.optimizer.step()
        if not self.acc.optimizer_step_was_skipped:  # an fp16 overflow skips the step; keep lr in step
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def fit(self) -> Path:
        t, e = self.cfg.train, self.cfg.eval
        window: dict[str, float] = {}
        window_steps, window_samples, tick, step_seconds = 0, 0, time.perf_counter(), 0.0
        first_step = True
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", disable=not self.main,
                   dynamic_ncols=True)
        self.last_save_time = monotonic()
        try:
            with self.stop.catch():
                while self.step < self.total_steps:
                    self.loader.sampler.set_position(self.epoch, self.batch)
                    batches = iter(self.loader)
                    while self.step < self.total_steps:
                        micro = list(itertools.islice(batches, t.grad_accum))
                        if not micro:
                            break
                        if first_step and t.tune_conv_paths:
                            self._tune_conv_paths(micro[0])
                        started = time.perf_counter()  # step time: forward, backward, optimiser (no data, eval, saving)
                        self.model.train()
                        train_mode(self.raw)
                        for i, batch in enumerate(micro):
                            for k, v in self._micro_step(batch, i == len(micro) - 1, len(micro)).items():
                                window[k] = window.get(k, 0.0) + v / len(micro)
                            window_samples += batch_len(batch) * self.acc.num_processes
                        self._optimizer_step()
                        took = time.perf_counter() - started
                        step_seconds += took
                        if t.compile and first_step:  # compilation happens inside the first step
                            self.log.log(self.step + 1, {"compile_warmup_s": took}, kind="compile")
                            self.acc.print(f"torch.compile ({t.compile_backend}): first step {took:.1f} s, "
                                           "compilation included")
                        first_step = False
                        self.step, self.batch, window_steps = self.step + 1, self.batch + len(micro), window_steps + 1
                        bar.update(1)
                        if self.step % t.log_every == 0 or self.step == self.total_steps:
                            self._log_window(window, window_steps, window_samples, time.perf_counter() - tick, bar,
                                             step_seconds)
                            window, window_steps, window_samples, step_seconds = {}, 0, 0, 0.0
                            tick = time.perf_counter()
                        save, stop = self._save_or_stop_due()
                        if save or stop:
                            self.save_last()
                        if stop:
                            raise TrainingInterrupted(f"{self.stop.name}: saved {self.run_dir / 'last'} at step "
                                                      f"{self.step}; continue with --resume")
                        if e.every_steps > 0 and self.step % e.every_steps == 0 and self.step < self.total_steps:
                            self.evaluate()  # e.g. SDXL validation images every N steps
                    else:
                        break  # max steps reached mid-epoch
                    self.epoch, self.batch = self.epoch + 1, 0
                    if e.every > 0 and self.epoch % e.every == 0 and self.step < self.total_steps:
                        self.evaluate()  # the last epoch's is the final evaluation below
                    self.save_last()  # every epoch end
                bar.close()  # before the final evaluation's own bar
                if self.saved_step != self.step:
                    self.save_last()  # before the final evaluation: whatever it raises, the weights are kept
                best = self.best
                metrics = self.evaluate(final=True)
                if self.best != best:
                    self.save_last()  # the trainer state's best, for a later --resume with more steps
            if self.main:
                (self.run_dir / "metrics.json").write_text(json.dumps(
                    {"split": e.split, "step": self.step, **metrics}, indent=2) + "\n")
        except TrainingInterrupted as stop:
            self.acc.print(f"interrupted by {stop}", file=sys.stderr)
            raise
        except BaseException:
            self._discard_if_empty()
            raise
        finally:
            bar.close()
            self.log.close()
        return self.run_dir

    def _save_or_stop_due(self) -> tuple[bool, bool]:
        """(save last/ now, stop now), the same answer on every process."""
        t = self.cfg.train
        save = (t.save_every > 0 and self.step % t.save_every == 0) or \
            (t.save_every_minutes > 0 and monotonic() - self.last_save_time >= 60 * t.save_every_minutes)
        stop = self.stop.signum is not None
        if self.acc.num_processes > 1:  # clocks and signals differ between processes: agree on the max
            flags = self.acc.reduce(torch.tensor([float(save), float(stop)], device=self.acc.device), "max")
            save, stop = bool(flags[0]), bool(flags[1])
        return save, stop

    def _log_window(self, window: dict, steps: int, samples: int, seconds: float, bar: tqdm,
                    step_seconds: float) -> None:
        values = {k: v / steps for k, v in window.items()}
        if self.acc.num_processes > 1:  # average over processes (collective: every rank logs together)
            keys = sorted(values)
            t = self.acc.reduce(torch.tensor([values[k] for k in keys], device=self.acc.device), "mean")
            values = dict(zip(keys, t.tolist()))
        values["lr"] = self.step_lr
        values["samples_per_s"] = samples / max(seconds, 1e-9)
        values["step_time_s"] = step_seconds / steps  # this (main) process; compare.py reads it
        values["peak_mem_mb"] = peak_memory_mb(self.acc.device)
        self.log.log(self.step, values, kind="train", epoch=self.epoch)
        bar.set_postfix(loss=f"{values.get('loss', float('nan')):.4g}", lr=f"{values['lr']:.3g}")


def train(cfg: RunConfig, resume: bool = False) -> Path:
    """Train ``cfg`` (continuing ``run_dir/last`` with ``resume``); return the run folder."""
    return Trainer(cfg, resume).fit()
