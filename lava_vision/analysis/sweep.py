"""One recipe over a small grid: every grid point is a run folder whose name encodes the point.

``adapter.rank=3,6,12 adapter.lam=0.05,0.1`` gives 6 runs named ``<recipe>__rank3_lam0.05`` ...
in the recipe's ``output.root``. Every point's overrides are type-checked before anything trains.
A point whose run folder already holds ``metrics.json`` of the same resolved config (its
``config.json`` equals the point's config) is not run again; one with a ``last/`` checkpoint of the
same config but no final metrics (interrupted) is resumed. A folder of a different config (another
``train.max_steps``, say) is moved aside to ``<name>.replaced-<time>`` and the point runs afresh.
Runs go one after another in this process, or as up to N ``tools/train.py`` processes (round-robin
over the visible GPUs).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..json_types import JsonFileError
from ..train.config import RESUME_HISTORY, RunConfig
from ..train.recipe import RecipeError, apply_overrides, load_recipe
from ..train.run_files import read_eval_report, read_run_config_doc
from ..train.validate import check_config


@dataclass
class SweepRun:
    point: dict[str, str]  # swept key -> raw value
    overrides: list[str]  # everything passed to the run: --set items, the point, output.name
    config: RunConfig
    status: str = "pending"  # pending | done | reused | failed
    error: str = ""

    @property
    def run_dir(self) -> Path:
        return Path(self.config.output.root) / self.config.output.name


def split_values(raw: str) -> list[str]:
    """Split on commas outside brackets and quotes: ``3,6`` -> [3, 6]; ``[a,b],[c]`` -> two lists."""
    out, depth, quote, current = [], 0, "", ""
    for ch in raw:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
            continue
        current += ch
    out.append(current.strip())
    return out


def parse_sweep(items: Sequence[str]) -> dict[str, list[str]]:
    """``["adapter.rank=3,6,12", ...]`` -> ``{"adapter.rank": ["3", "6", "12"], ...}`` (order kept)."""
    sweep: dict[str, list[str]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RecipeError(f"--sweep {item!r}: expected key=v1,v2,..., e.g. adapter.rank=3,6,12")
        values = split_values(raw)
        if any(not v for v in values) or len(set(values)) != len(values):
            raise RecipeError(f"--sweep {item!r}: values must be non-empty and distinct")
        if key in sweep:
            raise RecipeError(f"--sweep: key {key!r} given twice")
        sweep[key] = values
    if not sweep:
        raise RecipeError("--sweep: give at least one key=v1,v2,...")
    return sweep


def grid_points(sweep: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination, the last key varying fastest."""
    keys = list(sweep)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(sweep[k] for k in keys))]


def point_name(base: str, point: dict[str, str]) -> str:
    """``base__rank3_lam0.05``: each key by its last part (the full dotted key when two last parts
    clash), each value with characters unsafe in file names replaced by ``-``."""
    last = [k.rsplit(".", 1)[-1] for k in point]
    parts = []
    for key, short in zip(point, last):
        label = short if last.count(short) == 1 else key.replace(".", "-")
        value = re.sub(r"[^A-Za-z0-9.+-]+", "-", point[key]).strip("-") or "x"
        parts.append(f"{label}{value}")
    return f"{base}__{'_'.join(parts)}"


def plan_sweep(recipe: str | os.PathLike, sweep: dict[str, list[str]], sets: Sequence[str] = ()) -> list[SweepRun]:
    """One SweepRun per grid point, its config built, type-checked and validated (raises before any
    training)."""
    base = apply_overrides(load_recipe(recipe), list(sets)).output.name
    runs = []
    for point in grid_points(sweep):
        overrides = [*sets, *(f"{k}={v}" for k, v in point.items()), f"output.name={point_name(base, point)}"]
        try:
            cfg = apply_overrides(load_recipe(recipe), overrides)
            check_config(cfg)  # eval.mode, optim.name, adapter.rank, ... of every point before any trains
        except ValueError as e:
            raise RecipeError(f"sweep point {point}: {e}") from e
        runs.append(SweepRun(point, overrides, cfg))
    return runs


def _state(run: SweepRun) -> str:
    """fresh | resume | finished | stale (a folder of another config), from what the run folder holds."""
    d = run.run_dir
    if not d.is_dir() or not any((d / n).exists() for n in ("metrics.json", "last", "checkpoints", "best")):
        return "fresh"
    saved = d / "config.json"
    if not saved.is_file() or not _same_config(saved, run.config):
        return "stale"
    if (d / "metrics.json").is_file():
        return "finished"
    return "resume" if (d / "last").is_dir() or (d / "checkpoints").is_dir() else "stale"


def _same_config(saved: Path, config: RunConfig) -> bool:
    """Whether a run folder's config.json rebuilds to this point's resolved config: a field added to the
    config since the run (absent from its file) counts at its default, so a release that adds an option
    does not retrain a finished study. Unreadable, malformed or another task's: not the same (the folder
    is then moved aside, kept, and the point runs afresh)."""
    def plain(cfg: RunConfig) -> object:
        return json.loads(json.dumps(cfg.to_dict()))

    try:
        doc = read_run_config_doc(saved)  # the shared reader: a depth bomb is a JsonFileError, not a crash
        doc.pop(RESUME_HISTORY, None)  # what each --resume changed: a record, not a setting
        return plain(RunConfig.from_dict(doc)) == plain(config)
    except (OSError, ValueError, TypeError, KeyError):  # JsonFileError and RecipeError are ValueErrors
        return False


def _move_aside(run: SweepRun) -> None:
    """A run folder of another config: keep it, renamed, and let the point run afresh."""
    stem = f"{run.run_dir.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
    target, n = run.run_dir.with_name(stem), 1
    while target.exists():  # moved aside twice within a second: never onto the earlier one
        target, n = run.run_dir.with_name(f"{stem}-{n}"), n + 1
    os.rename(run.run_dir, target)
    print(f"[sweep] {run.run_dir}: holds a run of a different config; moved to {target.name}, running afresh",
          flush=True)


def run_sweep(runs: list[SweepRun], recipe: str | os.PathLike, parallel: int = 1,
              train_tool: Path | None = None, log_dir: Path | None = None) -> list[SweepRun]:
    """Train every pending point; a failed point is recorded (``status``/``error``) and the rest go on."""
    if parallel < 1:
        raise ValueError(f"--parallel {parallel}: must be >= 1")
    todo = []
    for run in runs:
        state = _state(run)
        if state == "finished":
            run.status = "reused"
            continue
        if state == "stale":
            _move_aside(run)
        todo.append(run)
    if parallel == 1:
        for run in todo:
            _train_here(run)
    else:
        if train_tool is None or log_dir is None:
            raise ValueError("parallel sweeps need train_tool (tools/train.py) and log_dir")
        _train_processes(todo, recipe, parallel, train_tool, log_dir)
    return runs


def _train_here(run: SweepRun) -> None:
    from ..train import train

    print(f"[sweep] {run.config.output.name}: {' '.join(f'{k}={v}' for k, v in run.point.items())}", flush=True)
    try:
        train(run.config, resume=_state(run) == "resume")
        run.status = "done"
    except KeyboardInterrupt:
        raise
    except Exception as e:  # one bad point must not lose the others; the error is reported at the end
        run.status, run.error = "failed", f"{type(e).__name__}: {e}"
        traceback.print_exc()


def _train_processes(todo: list[SweepRun], recipe: str | os.PathLike, parallel: int, train_tool: Path,
                     log_dir: Path) -> None:
    jobs = []
    for run in todo:
        cmd = [sys.executable, str(train_tool), str(recipe), "--set", *run.overrides]
        if _state(run) == "resume":
            cmd.append("--resume")
        jobs.append((run, cmd, log_dir / f"{run.config.output.name}.txt"))
    _run_processes(jobs, parallel, log_dir)


def _run_processes(jobs: list[tuple[SweepRun, list[str], Path]], parallel: int, log_dir: Path) -> None:
    """Run each job's command, up to ``parallel`` at a time (round-robin over the visible GPUs);
    a job's ``status`` becomes done or failed (with the last line of its log)."""
    import torch

    log_dir.mkdir(parents=True, exist_ok=True)
    gpus = torch.cuda.device_count()
    queue, active = list(jobs), []
    slot = 0
    while queue or active:
        while queue and len(active) < parallel:
            run, cmd, log_path = queue.pop(0)
            env = dict(os.environ)
            if gpus > 1:
                env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
            slot += 1
            log = open(log_path, "w")
            print(f"[sweep] start {run.config.output.name} (log: {log.name})", flush=True)
            active.append((run, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        time.sleep(0.2)
        for item in list(active):
            run, proc, log = item
            if proc.poll() is None:
                continue
            log.close()
            active.remove(item)
            if proc.returncode == 0:
                run.status = "done"
            else:
                tail = Path(log.name).read_text().strip().splitlines()[-1:] or [""]
                run.status, run.error = "failed", f"exit status {proc.returncode}: {tail[0]} (see {log.name})"
            print(f"[sweep] {run.status} {run.config.output.name}", flush=True)


def report_sweep(runs: list[SweepRun], recipe: str | os.PathLike, split: str, parallel: int, eval_tool: Path,
                 log_dir: Path) -> list[SweepRun]:
    """Score every finished point's selected checkpoint (``best/``, chosen on ``eval.split``) on the
    report ``split`` with ``tools/eval.py``, which writes ``<run>/eval_<split>.json``; points that
    already hold that file for their checkpoint are skipped. A point chosen on ``split`` itself is
    refused (its numbers would be optimistic)."""
    jobs = []
    for run in runs:
        if run.status not in ("done", "reused"):
            continue
        if run.config.eval.split == split:
            raise ValueError(f"--report-split {split}: {run.config.output.name} selects best/ on {split!r}; "
                             "report a split it was not chosen on")
        if _report_is_current(run.run_dir, split):
            continue
        cmd = [sys.executable, str(eval_tool), str(recipe), "--set", *run.overrides, "--adapter", str(run.run_dir),
               "--split", split]
        jobs.append((run, cmd, log_dir / f"{run.config.output.name}.eval_{split}.txt"))
    _run_processes(jobs, parallel, log_dir)
    return runs


def _report_is_current(run_dir: Path, split: str) -> bool:
    """``eval_<split>.json`` exists and scored the run's current ``best/`` (or ``last/``) step."""
    from ..train.checkpoint import find_adapter_dir
    from ..train.protocol import describe_checkpoint

    path = run_dir / f"eval_{split}.json"
    if not path.is_file():
        return False
    try:
        doc = read_eval_report(path)
    except (OSError, JsonFileError):
        return False  # not a report of tools/eval.py: scored again (and rewritten)
    return doc.get("selection") == describe_checkpoint(find_adapter_dir(run_dir))[1] and "after" in doc


def write_sweep_report(runs: Sequence[SweepRun], sweep: dict[str, list[str]], out_dir: Path,
                       metric: str | None = None, split: str | None = None) -> list[Path]:
    """The comparison of the finished points (``comparison.md/.csv``, ``metric_vs_params.png``) and
    ``sweep.png``: the metric against the first swept key, one line per value of the others.
    ``split``: the metrics of ``report_sweep`` on that split instead of the final evaluation."""
    from .compare import main_metric_of, summarize_run, write_comparison
    from .plots import plot_sweep

    finished = [r for r in runs if r.status in ("done", "reused")]
    if not finished:
        raise RuntimeError("no sweep point finished: " + "; ".join(f"{r.config.output.name}: {r.error}" for r in runs))
    summaries = [summarize_run(r.run_dir, split) for r in finished]
    paths = write_comparison(summaries, out_dir, metric)
    name = main_metric_of(summaries, metric)
    x_key = next(iter(sweep))
    paths.append(plot_sweep([r.point for r in finished], [s.metrics[name] for s in summaries], x_key, name,
                            out_dir / "sweep.png"))
    return paths
