"""The generic trainer: any Task, any adapter method, one process or many (Accelerate / torchrun).

One optimiser step = ``train.grad_accum`` micro-batches of ``train.batch_size`` per process; the
loss of each is ``task loss + orthogonal_penalty(model)``. Run folder layout, resume semantics and
the non-finite-loss stop are described in the README ("Training engine").
"""
from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedDataParallelKwargs, gather_object, send_to_device, set_seed
from torch import nn
from tqdm.auto import tqdm

from ..adapters import load_adapter, orthogonal_penalty, train_mode
from ..analysis.diagnostics import GradientWindow, layer_orthogonality_errors
from ..jsonl import append_jsonl
from .build import build_run, resolve_precision
from .checkpoint import load_trainer_state, recover, rng_state, save_checkpoint, set_rng_state
from .config import RunConfig
from .data import train_loader
from .evaluation import batch_len, evaluate
from .optim import build_optimizer, build_scheduler
from .protocol import check_selection, selection_record
from .run_log import RunLog

# Crash simulation for the resume test: the process exits hard right after this global step
# (and any checkpoint written at it), like a kill would.
EXIT_AFTER_STEP_ENV = "LAVA_VISION_EXIT_AFTER_STEP"


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped without overwriting the last checkpoint."""


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.output.root) / (cfg.output.name or cfg.task)


def enable_gradient_checkpointing(task: object, model: nn.Module) -> None:
    """Ask the task first, then the model (transformers/diffusers API); warn if neither can."""
    if hasattr(task, "enable_gradient_checkpointing"):
        task.enable_gradient_checkpointing(model)
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable()
    else:
        warnings.warn(f"train.gradient_checkpointing=True, but neither the task nor {type(model).__name__} "
                      "supports it; training without it")


class Trainer:
    """Holds the state of one run; ``train(cfg, resume)`` is the entry point."""

    def __init__(self, cfg: RunConfig, resume: bool = False) -> None:
        self.cfg, t = cfg, cfg.train
        check_selection(cfg)  # best/ is never chosen on a test split without an explicit opt-in
        if t.grad_accum < 1 or t.batch_size < 1:
            raise ValueError(f"train.grad_accum={t.grad_accum} and train.batch_size={t.batch_size} must be >= 1")
        on_gpu = torch.cuda.is_available()
        self.precision = resolve_precision(t.precision, torch.device("cuda" if on_gpu else "cpu"))
        # Accelerate keeps one global AcceleratorState; drop it (not the process group) so that a
        # second run in this process may use another precision.
        AcceleratorState._reset_state(reset_partial_state=False)
        # cpu=True without a GPU, or a CPU-only torchrun launch would run N independent processes
        ddp = DistributedDataParallelKwargs(find_unused_parameters=t.find_unused_parameters)
        self.acc = Accelerator(mixed_precision="no" if self.precision == "fp32" else self.precision, cpu=not on_gpu,
                               kwargs_handlers=[ddp])
        self.main = self.acc.is_main_process
        self.run_dir = run_dir_of(cfg)
        self._prepare_run_dir(resume)
        set_seed(t.seed)
        self.task, model, self.plan = build_run(cfg)
        if t.gradient_checkpointing:
            enable_gradient_checkpointing(self.task, model)
        optimizer = build_optimizer(model, cfg)
        self.loader = train_loader(self.task.build_dataset("train"), self.task.collate, t.batch_size, t.seed,
                                   self.acc.process_index, self.acc.num_processes, t.num_workers,
                                   pin_memory=self.acc.device.type == "cuda")
        self.steps_per_epoch = math.ceil(self.loader.sampler.batches_per_epoch / t.grad_accum)
        self.total_steps = t.max_steps if t.max_steps > 0 else t.epochs * self.steps_per_epoch
        self.scheduler = build_scheduler(optimizer, cfg, self.total_steps)
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.raw = self.acc.unwrap_model(self.model)
        self.grad_window = GradientWindow(self.raw) if t.diagnostics and self.main else None
        self.epoch, self.batch, self.step = 0, 0, 0  # position: epoch, micro-batch within it, optimiser steps
        self.best: float | None = None
        self.log = RunLog(self.run_dir, enabled=self.main)
        if self.main:
            (self.run_dir / "plan.txt").write_text(str(self.plan) + "\n")
        self.acc.print("\n".join(str(self.plan).splitlines()[-2:]))
        if resume:
            self._resume()

    # ---- run folder and checkpoints -------------------------------------------------------------
    def _prepare_run_dir(self, resume: bool) -> None:
        d = self.run_dir
        if resume:
            recover(d, "last")
            if not (d / "last").is_dir():
                raise FileNotFoundError(f"{d}/last: nothing to resume (no checkpoint in this run folder)")
        elif (d / "last").exists() or (d / ".last.old").exists() or (d / "best").exists():
            raise FileExistsError(f"{d}: this run folder already holds checkpoints; pass --resume to continue "
                                  "it, or choose another output.name")
        self.acc.wait_for_everyone()
        if self.main:
            d.mkdir(parents=True, exist_ok=True)
            current = self.cfg.to_dict()
            if resume and (d / "config.json").is_file():
                saved = json.loads((d / "config.json").read_text())
                changed = _diff_keys(saved, json.loads(json.dumps(current)))
                if changed:
                    warnings.warn(f"resuming {d} with a changed config: {', '.join(changed)}")
            (d / "config.json").write_text(json.dumps(current, indent=2) + "\n")

    def _metadata(self, metrics: dict | None = None, selection: dict | None = None) -> dict:
        return {"task": self.cfg.task, "run": self.run_dir.name, "epoch": self.epoch, "step": self.step,
                "metrics": metrics or {}, "selection": selection or selection_record(self.cfg, "last", self.step)}

    def save_last(self) -> None:
        rng = gather_object([rng_state()])  # every process's RNG, in rank order (collective)
        if self.main:
            state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                     "scaler": self.acc.scaler.state_dict() if self.acc.scaler is not None else {},
                     "rng": rng, "world_size": self.acc.num_processes, "best": self.best,
                     "position": {"epoch": self.epoch, "batch": self.batch, "global_step": self.step}}
            save_checkpoint(self.run_dir, "last", self.raw, self._metadata(), state)
        self.acc.wait_for_everyone()

    def _resume(self) -> None:
        ckpt = self.run_dir / "last"
        state = load_trainer_state(ckpt)
        load_adapter(self.raw, ckpt)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
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
        self.acc.print(f"resumed {self.run_dir} at step {self.step} (epoch {self.epoch}, batch {self.batch})")

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
            if e.main_metric not in metrics:
                raise KeyError(f"eval.main_metric={e.main_metric!r} is not among the metrics {sorted(metrics)}")
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
            out = self.task.training_step(self.model, send_to_device(batch, self.acc.device))
            reg = orthogonal_penalty(self.raw)
            loss = out["loss"] + reg
            finite = self.acc.reduce(torch.isfinite(loss.detach()).float().reshape(1), "sum")
            if finite.item() < self.acc.num_processes:
                raise NonFiniteLossError(
                    f"step {self.step + 1}: the loss is not finite (task loss {out['loss'].item()}, regulariser "
                    f"{reg.item()}); stopped. The last good checkpoint is {self.run_dir / 'last'}")
            self.acc.backward(loss / n_micro)
        values = {k: v.detach().float().item() for k, v in out.items()
                  if isinstance(v, torch.Tensor) and v.numel() == 1}
        values["orth_penalty"] = reg.detach().float().item()
        return values

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
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", disable=not self.main,
                   dynamic_ncols=True)
        try:
            while self.step < self.total_steps:
                self.loader.sampler.set_position(self.epoch, self.batch)
                batches = iter(self.loader)
                while self.step < self.total_steps:
                    micro = list(itertools.islice(batches, t.grad_accum))
                    if not micro:
                        break
                    started = time.perf_counter()  # step time: forward, backward, optimiser (no data, eval, saving)
                    self.model.train()
                    train_mode(self.raw)
                    for i, batch in enumerate(micro):
                        for k, v in self._micro_step(batch, i == len(micro) - 1, len(micro)).items():
                            window[k] = window.get(k, 0.0) + v / len(micro)
                        window_samples += batch_len(batch) * self.acc.num_processes
                    self._optimizer_step()
                    step_seconds += time.perf_counter() - started
                    self.step, self.batch, window_steps = self.step + 1, self.batch + len(micro), window_steps + 1
                    bar.update(1)
                    if self.step % t.log_every == 0 or self.step == self.total_steps:
                        self._log_window(window, window_steps, window_samples, time.perf_counter() - tick, bar,
                                         step_seconds)
                        window, window_steps, window_samples, tick, step_seconds = {}, 0, 0, time.perf_counter(), 0.0
                    if t.save_every > 0 and self.step % t.save_every == 0:
                        self.save_last()
                    if e.every_steps > 0 and self.step % e.every_steps == 0 and self.step < self.total_steps:
                        self.evaluate()  # e.g. SDXL validation images every N steps
                    if os.environ.get(EXIT_AFTER_STEP_ENV) == str(self.step):
                        os._exit(17)
                else:
                    break  # max steps reached mid-epoch
                self.epoch, self.batch = self.epoch + 1, 0
                if e.every > 0 and self.epoch % e.every == 0 and self.step < self.total_steps:
                    self.evaluate()  # the last epoch's is the final evaluation below
                if t.save_every == 0:
                    self.save_last()
            bar.close()  # before the final evaluation's own bar
            metrics = self.evaluate(final=True)
            self.save_last()
            if self.main:
                (self.run_dir / "metrics.json").write_text(json.dumps(
                    {"split": e.split, "step": self.step, **metrics}, indent=2) + "\n")
        finally:
            bar.close()
            self.log.close()
        return self.run_dir

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


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: allocated CUDA memory on a GPU, else this process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def _diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out.extend(_diff_keys(va, vb, f"{prefix}{k}."))
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def train(cfg: RunConfig, resume: bool = False) -> Path:
    """Train ``cfg`` (continuing ``run_dir/last`` with ``resume``); return the run folder."""
    return Trainer(cfg, resume).fit()
