"""What the app can show: the zoo's entries and the finished runs of a runs folder, each with its
card facts (metrics and the split they were measured on; for a run, its test evaluation by
tools/eval.py when there is one), loaded as a base | adapted pair of
``lava_vision.inference.Predictor``s (cached, so each model loads once per server); and, for zoo
entries trained on the same base weights (same task and ``base_model_revision``), one "shared
base" choice loading them all onto one model (``zoo.load([a, b])``) to show each alone and a mix.

The page only ever sends back a key of ``list_sources``; a key it does not know is a missing
entry, never a path to open."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import zoo
from ..adapters import check_mix
from ..inference import Predictor, load_run
from ..train import RunConfig, find_adapter_dir, resolve_precision
from ..train.run_files import read_run_config_doc


class SourceError(ValueError):
    """A source that is missing or cannot be loaded; the message names it."""


@dataclass
class Source:
    """One zoo entry (``kind="zoo"``) or run folder (``kind="run"``). ``split`` and ``metrics`` are
    the recorded evaluation (None / {} when the run has none); ``facts`` are extra card lines."""

    key: str
    kind: str
    name: str
    task: str
    split: str | None
    metrics: dict[str, float]
    facts: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # the run folder (kind "run")
    members: tuple[str, ...] = ()  # the zoo entries of a shared base (kind "shared"), in slider order

    @property
    def label(self) -> str:
        if self.kind == "shared":
            return f"zoo: {self.name} (one base, {self.task})"
        return f"{self.kind}: {self.name} ({self.task})"


@dataclass
class Loaded:
    """The base model and the adapted one of a source, ready to predict; for a shared base,
    ``adapted`` is None and ``entries`` holds one ``ZooModel`` per member, all on one model, and
    ``no_mix`` says why they cannot be mixed ("" when they can: ``adapters.check_mix``)."""

    source: Source
    base: Predictor
    adapted: Predictor | None
    entries: list[Any] = field(default_factory=list)
    no_mix: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)  # a mix is set on the shared model, then run


def predict_columns(loaded: Loaded, item: Any, seed: int, weights: dict[str, float] | None = None
                    ) -> tuple[dict[str, Any], str]:
    """``(results, note)``: the results shown left to right, ``{"base", "adapted"}`` for an entry or
    run; for a shared base ``"base"``, ``"alone:<entry>"`` per member (``ZooModel.predict(adapter=
    entry)``), and ``"adapted"``, the mix ``weights`` ({entry: weight}, ``adapters.set_adapter``;
    default 1 each). A mix the adapters refuse (``Loaded.no_mix``: two saving the same module) is
    left out and ``note`` says why (else "")."""
    out = {"base": loaded.base.predict(item, seed)}
    if not loaded.entries:
        out["adapted"] = loaded.adapted.predict(item, seed)
        return out, ""
    first = loaded.entries[0]
    mix = {e.name: float((weights or {}).get(e.name, 1.0)) for e in loaded.entries}
    with loaded.lock:
        for entry in loaded.entries:
            out[f"alone:{entry.name}"] = first.predict(item, seed, adapter=entry.name)
        if loaded.no_mix:  # e.g. two entries each training their own head: shown alone only
            return out, f"no mix: {loaded.no_mix}"
        out["adapted"] = first.predict(item, seed, adapter=mix)
    return out, ""


MAX_ADAPTERS = 4  # entries one shared-base choice mixes (the page has a slider and a column for each)


def zoo_sources(root: str | os.PathLike | None) -> list[Source]:
    """One source per entry, then one "shared" source per group of entries with the same task and
    base weights digest (method full entries have no digest: they own every weight)."""
    out, groups = [], {}
    index = zoo.read_index(root)["entries"]
    for row in zoo.list(root):
        facts = {"base": row["base"], "adapter": f"{row['method']} rank {row['rank']}"}
        out.append(Source(f"zoo:{row['name']}", "zoo", row["name"], row["task"], row["split"], row["metrics"], facts))
        digest = index[row["name"]].get("base_model_revision") or ""
        if digest.startswith("weights-sha256:"):
            groups.setdefault((row["task"], digest), []).append(row)
    for (task, digest), rows in groups.items():
        for start in range(0, len(rows), MAX_ADAPTERS):  # a larger group becomes several choices
            part = rows[start:start + MAX_ADAPTERS]
            if len(part) < 2:
                continue
            names = tuple(r["name"] for r in part)
            facts = {"base": f"{part[0]['base']} ({digest[:22]}...)", "entries": ", ".join(names),
                     "adapters": ", ".join(f"{r['method']} rank {r['rank']}" for r in part)}
            out.append(Source("shared:" + "+".join(names), "shared", " + ".join(names), task, None, {},
                              facts, members=names))
    return out


def run_sources(runs_dir: str | os.PathLike) -> tuple[list[Source], list[str]]:
    """The finished runs directly inside ``runs_dir`` (a ``config.json`` and ``best/`` or ``last/``)
    and one line per folder that looks like a run but cannot be read."""
    from ..zoo.publish import run_evaluation

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return [], [f"--runs {runs_dir}: no such folder"]
    out, problems = [], []
    for d in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        if not (d / "config.json").is_file() or not any((d / n / "adapter_config.json").is_file()
                                                         for n in ("best", "last")):
            continue
        try:
            cfg = RunConfig.from_dict(read_run_config_doc(d / "config.json"))
            adapter_dir = find_adapter_dir(d)
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems.append(f"run {d.name}: not loadable ({type(e).__name__}: {e})")
            continue
        record = {"split": None, "metrics": {}}
        # the test evaluation tools/eval.py wrote for this checkpoint (eval_test.json) wins over the
        # validation metrics recorded while training: the card shows held-out numbers where there are
        for split in ("test", None):
            try:
                record = run_evaluation(d, adapter_dir, cfg, split)
                break
            except (zoo.ZooError, OSError, ValueError, KeyError):
                continue
        facts = {"checkpoint": adapter_dir.name + "/", "adapter": f"{cfg.adapter.method} rank {cfg.adapter.rank}"}
        if record.get("source"):
            facts["metrics from"] = record["source"]
        out.append(Source(f"run:{d.name}", "run", d.name, cfg.task, record["split"], dict(record["metrics"]), facts,
                          path=d))
    return out, problems


def list_sources(zoo_root: str | os.PathLike | None = None, runs_dir: str | os.PathLike | None = None
                 ) -> tuple[dict[str, Source], list[str]]:
    """``({key: Source}, problems)``: every zoo entry, then every finished run; an unreadable zoo
    index or run is a problem line, not a failure (the rest stays usable)."""
    sources, problems = [], []
    try:
        sources += zoo_sources(zoo_root)
    except (zoo.ZooError, OSError, KeyError) as e:
        problems.append(f"zoo: {e}")
    if runs_dir is not None:
        runs, bad = run_sources(runs_dir)
        sources += runs
        problems += bad
    return {s.key: s for s in sources}, problems


class Models:
    """Loads each source's base and adapted models on first use and keeps them (one lock: two
    requests never build the same model twice)."""

    def __init__(self, sources: dict[str, Source], zoo_root: str | os.PathLike | None, device: str | None) -> None:
        self.sources, self.zoo_root = sources, zoo_root
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._cache: dict[str, Loaded] = {}
        self._lock = threading.Lock()

    def source(self, key: str | None) -> Source:
        if not key or key not in self.sources:
            known = ", ".join(s.name for s in self.sources.values()) or "none"
            raise SourceError(f"missing entry: {key!r} is not in this app's zoo or runs (known: {known})")
        return self.sources[key]

    def get(self, key: str | None, report: Callable[[float, str], None] = lambda f, s: None) -> Loaded:
        """The loaded pair; ``report(fraction, text)`` is told what is loading."""
        source = self.source(key)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._load(source, report)
            return self._cache[key]

    def _load(self, s: Source, report: Callable[[float, str], None]) -> Loaded:
        print(f"building {s.label}: its base and adapted models...", flush=True)  # the server's log too
        try:
            report(0.1, f"loading {s.name}: adapter (files verified)")
            if s.kind == "shared":  # every member's files and base digest checked, one base model
                entries = zoo.load(list(s.members), self.zoo_root, device=self.device)
                try:  # the check set_adapter runs: the page offers a mix only where one can be made
                    check_mix(entries[0].model, list(s.members))
                    no_mix = ""
                except ValueError as e:
                    no_mix = str(e)
                cfg = entries[0].config
                report(0.6, f"loading {s.name}: base model")
                base = load_run(None, cfg, self.device, resolve_precision(cfg.train.precision, self.device))
                return Loaded(s, base, None, entries, no_mix)
            if s.kind == "zoo":
                entry = zoo.load(s.name, self.zoo_root, device=self.device)  # hashes and base digest checked
                cfg = entry.config
                precision = resolve_precision(cfg.train.precision, self.device)
                adapted = Predictor(entry.task, entry.model, cfg, precision)
            else:
                cfg = RunConfig.from_dict(read_run_config_doc(s.path / "config.json"))
                precision = resolve_precision(cfg.train.precision, self.device)
                adapted = load_run(s.path, cfg, self.device, precision)
            report(0.6, f"loading {s.name}: base model")
            base = load_run(None, cfg, self.device, precision)  # as tools/predict.py --no-adapter builds it
        except Exception as e:  # noqa: BLE001  (any failure to build is shown in the page, naming the source)
            raise SourceError(f"{s.label} could not be loaded: {type(e).__name__}: {e}") from e
        return Loaded(s, base, adapted)
