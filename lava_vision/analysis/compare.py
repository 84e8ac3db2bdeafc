"""What each run cost and reached, read from its run folder only (no model is built).

Per run: ``config.json`` (task, method, rank, lam, main metric), the adapter's
``adapter_config.json`` (trainable and base parameter counts), ``metrics.json`` (the final
evaluation) and ``log.jsonl`` (train records: median ``step_time_s`` and ``samples_per_s``, the
largest ``peak_mem_mb``; runs logged before these existed show ``-``).
"""
from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..adapters import read_adapter_config
from ..json_types import JsonFileError, is_number
from ..jsonl import read_jsonl
from ..train.run_files import read_eval_report, read_run_config_doc, read_run_metrics


@dataclass
class RunSummary:
    name: str
    path: Path
    task: str
    method: str
    rank: int | None  # None for full / frozen
    lam: float | None
    trainable_params: int
    base_params: int
    step_time_s: float  # median over logged windows; nan if not recorded
    samples_per_s: float
    peak_mem_mb: float
    main_metric: str
    metrics: dict[str, float] = field(default_factory=dict)
    steps: int = 0

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable_params / max(self.base_params, 1)


def _read_json(reader: Callable[[Path], dict], path: Path, what: str) -> dict:
    """``path`` through its ``train.run_files`` reader (JsonFileError naming the file and key)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing ({what})")
    return reader(path)


def _main_metric(cfg: dict, path: Path) -> str | None:
    """``eval.main_metric`` of a run's config.json (and its ``task`` checked: both go into the table)."""
    if not isinstance(cfg.get("task"), str):
        raise JsonFileError(f"{path}: task={cfg.get('task')!r}: expected a task name")
    section = cfg.get("eval", {})
    if not isinstance(section, dict):
        raise JsonFileError(f"{path}: eval: expected an object (the eval section)")
    main = section.get("main_metric")
    if not isinstance(main, (str, type(None))):
        raise JsonFileError(f"{path}: eval.main_metric={main!r}: expected a metric name")
    return main


TIMINGS = ("step_time_s", "samples_per_s", "peak_mem_mb")  # what the table takes from log.jsonl


def _train_records(path: Path) -> list[dict]:
    """The train records of a run's ``log.jsonl``; JsonFileError naming ``file:line`` for a line that
    is not an object or whose timings are not numbers."""
    if not path.is_file():
        return []
    out = []
    for lineno, record in read_jsonl(path):
        if not isinstance(record, dict):
            raise JsonFileError(f"{path}:{lineno}: not a log record (a JSON object)")
        if record.get("kind") != "train":
            continue
        for key in TIMINGS:
            if key in record:
                value = record[key]
                if not is_number(value, finite=False):
                    raise JsonFileError(f"{path}:{lineno}: {key}={value!r}: expected a number")
        out.append(record)
    return out


def _median(records: list[dict], key: str) -> float:
    values = [r[key] for r in records if key in r]
    return statistics.median(values) if values else math.nan


def summarize_run(run_dir: str | Path, split: str | None = None) -> RunSummary:
    """Read one finished run folder; a missing ``metrics.json`` (unfinished run) is an error.
    ``split``: the metrics ``tools/eval.py --split <split>`` wrote to ``eval_<split>.json`` (its
    checkpoint's score on a report split) instead of the final evaluation on ``eval.split``."""
    from ..train.checkpoint import find_adapter_dir

    run = Path(run_dir)
    cfg = _read_json(read_run_config_doc, run / "config.json", "not a run folder: the trainer writes config.json")
    metrics = _read_json(read_run_metrics, run / "metrics.json", "the run has no final evaluation; did it finish?")
    if split is not None:
        hint = f"score it: tools/eval.py RECIPE --adapter {run} --split {split}"
        report = _read_json(read_eval_report, run / f"eval_{split}.json", hint)
        if "after" not in report or report.get("split") != split:
            raise ValueError(f"{run / f'eval_{split}.json'}: holds no adapter score on split {split!r}")
        if (report.get("selection") or {}).get("split") == split:
            raise ValueError(f"{run}: its checkpoint was chosen on {split!r}; its {split!r} numbers are optimistic")
        metrics = {**report["after"], "step": metrics.get("step", 0)}
    doc = read_adapter_config(find_adapter_dir(run))
    adapter = doc["adapter_config"]
    records = _train_records(run / "log.jsonl")
    low_rank = adapter["method"] in ("lava", "lora")
    main = _main_metric(cfg, run / "config.json") or next((k for k in metrics if k not in ("split", "step")), "")
    return RunSummary(
        name=run.resolve().name, path=run, task=cfg["task"], method=adapter["method"],
        rank=adapter["rank"] if low_rank else None, lam=adapter["lam"] if adapter["method"] == "lava" else None,
        trainable_params=int(doc["trainable_params"]), base_params=int(doc["base_params"]),
        step_time_s=_median(records, "step_time_s"), samples_per_s=_median(records, "samples_per_s"),
        peak_mem_mb=max((r["peak_mem_mb"] for r in records if "peak_mem_mb" in r), default=math.nan),
        main_metric=main, metrics={k: float(v) for k, v in metrics.items() if k not in ("split", "step")},
        steps=int(metrics.get("step", 0)))


def _fmt(value: float | int | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def metric_names_of(runs: Sequence[RunSummary], metrics: Sequence[str] | None = None) -> list[str]:
    """``metrics`` (each must be in some run), else every metric of any run, in first-seen order."""
    known = list(dict.fromkeys(k for r in runs for k in r.metrics))
    for m in metrics or []:
        if m not in known:
            raise KeyError(f"metric {m!r} is in no run's metrics.json; known: {known}")
    return list(metrics) if metrics else known


def table_rows(runs: Sequence[RunSummary], metrics: Sequence[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells: run, method, rank, lam, params, % of base, cost, the metrics."""
    metric_names = metric_names_of(runs, metrics)
    head = ["run", "method", "rank", "lam", "trainable params", "% of base", "step time (ms)", "samples/s",
            "peak mem (MB)", *metric_names]
    rows = []
    for r in runs:
        rows.append([r.name, r.method, _fmt(r.rank, "d"), _fmt(r.lam, "g"), f"{r.trainable_params:,}",
                     f"{r.trainable_percent:.3f}", _fmt(r.step_time_s * 1e3, ".1f"), _fmt(r.samples_per_s, ".1f"),
                     _fmt(r.peak_mem_mb, ".0f"), *(_fmt(r.metrics.get(m), ".4g") for m in metric_names)])
    return head, rows


def markdown_table(runs: Sequence[RunSummary], metrics: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), ready for a model card or README."""
    head, rows = table_rows(runs, metrics)
    align = [":--" if i < 2 else "--:" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(runs: Sequence[RunSummary], path: Path) -> Path:
    """Unformatted numbers, one row per run."""
    metric_names = list(dict.fromkeys(k for r in runs for k in r.metrics))
    fields = ["run", "path", "task", "method", "rank", "lam", "trainable_params", "base_params", "trainable_percent",
              "step_time_s", "samples_per_s", "peak_mem_mb", "steps", *metric_names]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for r in runs:
            writer.writerow([r.name, str(r.path), r.task, r.method, r.rank, r.lam, r.trainable_params, r.base_params,
                             r.trainable_percent, r.step_time_s, r.samples_per_s, r.peak_mem_mb, r.steps,
                             *(r.metrics.get(m, "") for m in metric_names)])
    return path


def main_metric_of(runs: Sequence[RunSummary], metric: str | None = None) -> str:
    """``metric`` if given, else the runs' common ``eval.main_metric``; it must be in every run."""
    name = metric or runs[0].main_metric
    for r in runs:
        if name not in r.metrics:
            raise KeyError(f"{r.path}: metric {name!r} not in its metrics.json ({sorted(r.metrics)})")
    return name


def write_comparison(runs: Sequence[RunSummary], out_dir: Path, metric: str | None = None,
                     columns: Sequence[str] | None = None) -> list[Path]:
    """``comparison.md`` (table; metric ``columns``, default all), ``comparison.csv`` (all metrics)
    and ``metric_vs_params.png`` (``metric``, default the main one) in ``out_dir``."""
    from .plots import plot_metric_vs_params

    if not runs:
        raise ValueError("no runs to compare")
    name = main_metric_of(runs, metric)
    table = markdown_table(runs, columns)  # both raise on an unknown metric, before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "comparison.md"
    md.write_text(table + "\n")
    png = plot_metric_vs_params([r.name for r in runs], [r.method for r in runs],
                                [r.trainable_params for r in runs], [r.metrics[name] for r in runs], name,
                                out_dir / "metric_vs_params.png")
    return [md, write_csv(runs, out_dir / "comparison.csv"), png]
