"""Turn a finished run into a zoo entry, atomically.

The entry is built in ``<root>/.<name>.tmp-*``: adapter files, the portable resolved config, the
evaluation (re-run on the staged entry and compared with the run's own numbers, unless
``reuse_eval``) and the card, whose metrics are checked against the run's. Only then is the
folder renamed into place and the index replaced; any failure leaves the zoo as it was.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..adapters import load_adapter, read_adapter_config
from ..adapters.io import CONFIG_NAME, WEIGHTS_NAME
from ..data.preprocess import task_preprocess
from ..export import export_coverage
from ..json_types import JsonFileError
from ..train.build import describe_base
from ..train.config import RunConfig
from ..train.run_files import read_eval_report, read_run_config_doc, read_run_metrics
from .card import CITATION, check_card_metrics, render_card
from .index import ZooError, check_name, file_records, locked, read_index, write_index, zoo_root
from .load import CARD_FILE, CONFIG_FILE, METRICS_FILE, build_from_dir
from .portable import foreign_paths, repo_dir, to_portable

REPRO_RTOL, REPRO_ATOL = 1e-5, 1e-7


def run_evaluation(run_dir: Path, adapter_dir: Path, cfg: RunConfig, split: str | None = None) -> dict:
    """The run's own evaluation of ``adapter_dir``: ``{"split", "max_samples", "metrics", "source"}``.

    Looked up in: the metrics ``best/`` keeps in its adapter_config.json; ``metrics.json`` when
    publishing ``last/`` of the same step; ``eval_<split>.json`` written by tools/eval.py for it.
    With ``split`` (e.g. "test" for a checkpoint chosen on "val"), only an ``eval_<split>.json`` of
    this adapter counts: the numbers a card reports then come from a split it was not chosen on."""
    if split is not None:
        path = run_dir / f"eval_{split}.json"
        record = _eval_tool_record(path, adapter_dir, cfg) if path.is_file() else None
        if record is not None:
            return record
        raise ZooError(f"{run_dir}: no evaluation of {adapter_dir} on split {split!r} ({path.name}); evaluate it "
                       f"first: python tools/eval.py RECIPE --adapter {run_dir} --split {split}")
    meta = read_adapter_config(adapter_dir)["metadata"]
    base = {"split": cfg.eval.split, "max_samples": cfg.eval.max_samples}
    if meta.get("metrics"):
        return {**base, "metrics": dict(meta["metrics"]),
                "source": f"{adapter_dir.name}/{CONFIG_NAME} (step {meta.get('step')})"}
    final = run_dir / "metrics.json"
    if adapter_dir.name == "last" and final.is_file():
        doc = _run_file(read_run_metrics, final)
        if doc["step"] == meta.get("step"):
            metrics = {k: v for k, v in doc.items() if k not in ("split", "step")}
            return {**base, "split": doc["split"], "metrics": metrics, "source": f"metrics.json (step {doc['step']})"}
    for path in sorted(run_dir.glob("eval_*.json")):
        record = _eval_tool_record(path, adapter_dir, cfg)
        if record is not None:
            return record
    raise ZooError(f"{run_dir}: no evaluation of {adapter_dir} (looked for metrics in {adapter_dir.name}/"
                   f"{CONFIG_NAME}, metrics.json, eval_*.json); evaluate it first: "
                   f"python tools/eval.py RECIPE --adapter {run_dir}")


def _eval_tool_record(path: Path, adapter_dir: Path, cfg: RunConfig) -> dict | None:
    """The record of an ``eval_<split>.json`` that tools/eval.py wrote for ``adapter_dir``, else None."""
    doc = _run_file(read_eval_report, path)
    if doc.get("after") and doc.get("adapter") and Path(doc["adapter"]).resolve() == adapter_dir.resolve():
        return {"split": doc["split"], "max_samples": doc.get("max_samples", cfg.eval.max_samples),
                "metrics": dict(doc["after"]), "source": path.name}
    return None


def _run_file(reader: Callable[[Path], dict], path: Path) -> dict:
    """A run folder's JSON file through its ``train.run_files`` reader; ZooError naming the file otherwise."""
    try:
        return reader(path)
    except (OSError, JsonFileError) as e:
        raise ZooError(str(e)) from e


def training_command(cfg: RunConfig, recipe: str | None) -> str:
    """``python tools/train.py RECIPE --set ...`` that rebuilds ``cfg`` from ``recipe`` exactly, but
    for the ``output`` section (where the run folder went does not change the result)."""
    from ..train.recipe import apply_overrides, load_recipe

    if recipe is None:
        raise ZooError("give the recipe the run was trained from (--recipe tasks/x.py) or --train-command")
    changed = [(k, v) for k, v in _changed(load_recipe(recipe), cfg) if not k.startswith("output.")]
    sets = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in changed]
    rebuilt = apply_overrides(load_recipe(recipe), sets).to_dict()
    if _plain({**rebuilt, "output": None}) != _plain({**cfg.to_dict(), "output": None}):
        raise ZooError(f"{recipe} with --set {' '.join(sets)} does not rebuild the run's config; "
                       "give --train-command")
    path = Path(recipe).resolve()
    shown = path.relative_to(repo_dir()).as_posix() if path.is_relative_to(repo_dir()) else str(path)
    return " ".join(["python tools/train.py", shlex.quote(shown)] + (["--set"] + [shlex.quote(s) for s in sets]
                                                                     if sets else []))


def _plain(value: object) -> object:
    return json.loads(json.dumps(value))


def _changed(a: object, b: object, prefix: str = "") -> list[tuple[str, object]]:
    """Dotted keys (through dataclass sections) whose values differ between two configs."""
    out = []
    for f in dataclasses.fields(b):
        va, vb = getattr(a, f.name, None), getattr(b, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(vb) and dataclasses.is_dataclass(va) and type(va) is type(vb):
            out.extend(_changed(va, vb, key + "."))
        elif _plain(dataclasses.asdict(va) if dataclasses.is_dataclass(va) else va) != \
                _plain(dataclasses.asdict(vb) if dataclasses.is_dataclass(vb) else vb):
            out.append((key, _plain(dataclasses.asdict(vb) if dataclasses.is_dataclass(vb) else vb)))
    return out


GENERATED_SOURCES = ("procedural", "synthetic")  # drawn by code: no root folder involved


def describe_data(data_section: dict) -> str:
    main = data_section.get("source") or data_section.get("root") or "?"
    keys = ("domain", "synthetic_eval") if main in GENERATED_SOURCES else ("root", "corruption", "severity")
    extra = [f"{k}={data_section[k]}" for k in keys if data_section.get(k) not in (None, "") and data_section[k] != main
             and not (k == "severity" and not data_section.get("corruption"))]
    return f"{main} ({', '.join(extra)})" if extra else str(main)


def data_scope(task: str, data_section: dict) -> str | None:
    """The card's scope line for data drawn by code (``GENERATED_SOURCES``): such an entry knows only that
    synthetic domain, and a user with real photographs must be told before trying it. None otherwise."""
    main = data_section.get("source")
    if main not in GENERATED_SOURCES:
        return None
    what = "procedurally rendered rooms" if task == "depth" else "procedurally drawn images"
    return (f"trained and evaluated only on {what} made by this library's code ({describe_data(data_section)}), "
            "never on real photographs. It knows only that synthetic domain: do not expect meaningful "
            "predictions on real images.")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REPRO_RTOL, abs_tol=REPRO_ATOL) or (math.isnan(a) and math.isnan(b))


def publish(run_dir: str | os.PathLike, name: str, *, root: str | os.PathLike | None = None, force: bool = False,
            reuse_eval: bool = False, recipe: str | None = None, train_command: str | None = None,
            license: str = "apache-2.0", quick_samples: int = 0, split: str | None = None,
            eval_data: list[str] | tuple[str, ...] = (), notes: str = "") -> Path:
    """Publish ``run_dir``'s adapter (``best/``, else ``last/``) as zoo entry ``name``; return its folder.

    Refuses: a run without an evaluation, an existing entry without ``force``, re-evaluated
    metrics or a card that differ from the run's. ``quick_samples`` > 0 also records the metrics
    on the first N samples of the split (for fast reproduction tests). ``split``: report that
    split's ``tools/eval.py`` evaluation (``run_evaluation``) instead of the run's own.
    ``eval_data``: ``data.KEY=VALUE`` overrides of the stored config: where the entry's evaluation
    data lives when it is not where the run trained (e.g. photos shipped with the package). The
    evaluation (``eval_<split>.json`` of tools/eval.py run with the same ``--set``) must be of that
    data, and is re-run on it; the card's training command still rebuilds the run's own config.
    ``notes``: Markdown for the card's "Data" section (provenance and licence of the data)."""
    from .. import tasks  # noqa: F401  (registers the packaged task names a run's config.json uses)
    from ..train.build import distributed_state, resolve_precision
    from ..train.checkpoint import find_adapter_dir
    from ..train.evaluation import evaluate

    check_name(name)
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise ZooError(f"{run_dir}: not a run folder (no {CONFIG_FILE})")
    run_cfg = _run_file(read_run_config_doc, run_dir / CONFIG_FILE)
    try:
        cfg = RunConfig.from_dict(run_cfg)
    except (KeyError, TypeError, ValueError) as e:
        raise ZooError(f"{run_dir / CONFIG_FILE}: not a usable run config ({type(e).__name__}: {e})") from e
    command = train_command or training_command(cfg, recipe)
    if eval_data:
        from ..train.recipe import apply_overrides

        bad = [item for item in eval_data if not item.strip().startswith("data.")]
        if bad:
            raise ZooError(f"eval_data {bad}: only data.* keys may differ from the run's config")
        cfg = apply_overrides(cfg, list(eval_data))
        run_cfg = _plain(cfg.to_dict())
    adapter_dir = find_adapter_dir(run_dir)
    record = run_evaluation(run_dir, adapter_dir, cfg, split)
    portable = to_portable(run_cfg)
    foreign = foreign_paths(portable)
    if foreign:
        print(f"warning: these config paths only exist on this machine: {'; '.join(foreign)}")

    root = zoo_root(root)
    with locked(root):
        index = read_index(root)
        final = root / name
        if (final.exists() or name in index["entries"]) and not force:
            raise ZooError(f"zoo entry {name!r} already exists in {root}; pass --force to replace it")
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.tmp-"))
        os.chmod(tmp, 0o755)
        try:
            for fname in (WEIGHTS_NAME, CONFIG_NAME):
                shutil.copy2(adapter_dir / fname, tmp / fname)
            (tmp / CONFIG_FILE).write_text(json.dumps(portable, indent=2) + "\n")
            # the user's own run: its task (a module path too) is the one it trained with
            cfg, doc, task, model, digest = build_from_dir(tmp, f"staged entry {name!r}", allow_task_module=True)
            load_adapter(model, tmp)
            device = distributed_state().device  # evaluate as the trainer did: its device and precision
            model.to(device)
            opts = dict(batch_size=cfg.eval.batch_size, precision=resolve_precision(cfg.train.precision, device))
            metrics = record["metrics"]
            if not reuse_eval:
                again = evaluate(task, model, record["split"], max_samples=record["max_samples"], **opts)
                bad = [k for k in metrics if k not in again or not _close(again[k], metrics[k])]
                if bad or set(again) != set(metrics):
                    diff = ", ".join(f"{k}: run {metrics.get(k)} vs now {again.get(k)}" for k in bad or sorted(again))
                    raise ZooError(f"re-evaluating {adapter_dir} does not reproduce the run's metrics "
                                   f"({record['source']}): {diff}. Evaluated on another device or precision? "
                                   "--reuse-eval trusts the run's numbers")
            subsets = [{"split": record["split"], "max_samples": quick_samples,
                        "metrics": evaluate(task, model, record["split"], max_samples=quick_samples, **opts)}
                       ] if quick_samples > 0 else []
            preprocess = task_preprocess(task)
            weights_said = task.describe_weights() if hasattr(task, "describe_weights") else None
            facts = {
                "library_name": "lava-vision", "tags": ["lava-vision", "lava", "peft", cfg.task], "license": license,
                "task": cfg.task, "base_model_id": describe_base(portable["model"], weights_said),
                "base_model_revision": digest or "n/a (method full: the adapter file holds every weight)",
                "dataset": describe_data(portable["data"] or {}), "split": record["split"],
                "eval_max_samples": record["max_samples"], "adapter_method": doc["adapter_config"]["method"],
                "rank": doc["adapter_config"]["rank"], "trainable_params": doc["trainable_params"],
                "base_params": doc["base_params"],
                "trainable_percent": round(100.0 * doc["trainable_params"] / max(doc["base_params"], 1), 4),
                "metrics": metrics, "training_command": command, "citation": CITATION,
                "scope": data_scope(cfg.task, portable["data"] or {})}
            (tmp / METRICS_FILE).write_text(json.dumps(
                {"split": record["split"], "max_samples": record["max_samples"], "batch_size": cfg.eval.batch_size,
                 "device": device.type, "precision": opts["precision"],
                 "metrics": metrics, "source": record["source"], "reproduced_at_publish": not reuse_eval,
                 "subsets": subsets}, indent=2) + "\n")
            card = render_card(name, facts, preprocess.describe() if preprocess else
                               f"none described by the {cfg.task} task", subsets, exports=export_coverage(model),
                               notes=notes)
            (tmp / CARD_FILE).write_text(card)
            check_card_metrics((tmp / CARD_FILE).read_text(), metrics, f"{tmp / CARD_FILE}")
            entry = {k: v for k, v in facts.items() if k not in ("library_name", "tags", "citation", "scope")}
            entry.update(files=file_records(tmp), published=datetime.date.today().isoformat(),
                         main_metric=cfg.eval.main_metric,
                         preprocessing=preprocess.to_dict() if preprocess else None)
            _swap_in(root, name, tmp, index, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _swap_in(root: Path, name: str, tmp: Path, index: dict, entry: dict) -> None:
    """Rename the staged folder into place and replace the index; roll back on failure."""
    final, old = root / name, root / f".{name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.rename(final, old)
    try:
        os.rename(tmp, final)
        index["entries"][name] = entry
        write_index(index, root)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        if old.exists():
            os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
