"""The zoo on disk: ``<root>/index.json`` plus one folder per entry, every file's sha256 in the index.

``index.json``::

    {"format": "lava-vision-zoo", "format_version": 1,
     "entries": {NAME: {"task": ..., "base_model_id": ..., "metrics": {...}, ...,
                        "files": {"adapter.safetensors": {"sha256": ..., "size": ...}, ...}}}}

The index is only ever replaced whole (temp file + rename), and writers hold a flock on ``<root>``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..json_types import JsonFileError, JsonTypeError, check_json, is_int, read_json_file
from ..names import is_safe_name, name_rule

FORMAT = "lava-vision-zoo"
INDEX_NAME = "index.json"
ROOT_ENV = "LAVA_VISION_ZOO"
SHIPPED_DIR = "shipped_zoo"
# the files an entry may hold (tools/publish.py writes exactly these); an index record or a
# downloaded zoo_entry.json naming anything else is refused, so no name can point outside the folder
ENTRY_FILES = ("README.md", "adapter.safetensors", "adapter_config.json", "config.json", "metrics.json")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ZooError(ValueError):
    """A zoo entry that cannot be published, verified or loaded; the message names entry and file."""


def shipped_root() -> Path:
    """Where an installed (non-editable) package keeps the entries shipped with it: setup.py copies
    the checkout's ``zoo/`` to ``lava_vision/shipped_zoo`` in the wheel. Read-only by convention."""
    return Path(__file__).resolve().parents[1] / SHIPPED_DIR


def zoo_root(root: str | os.PathLike | None = None) -> Path:
    """The zoo folder: ``root`` (``--zoo-root`` of the tools), else ``$LAVA_VISION_ZOO``, else the
    ``zoo/`` folder of this checkout when the package runs from one (source or editable install),
    else the entries shipped inside the installed package (``shipped_root``)."""
    if root is not None:
        return Path(root)
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    checkout = Path(__file__).resolve().parents[2] / "zoo"
    if (checkout / INDEX_NAME).is_file() or not shipped_root().is_dir():
        return checkout
    return shipped_root()


def check_name(name: str) -> str:
    if not is_safe_name(name, zoo=True):
        raise ZooError(f"zoo entry name {name!r}: use {name_rule(zoo=True)}")
    return name


def check_file_records(files: object, where: str) -> dict[str, dict]:
    """``files`` of an index record, checked before any path is built from it: a mapping from one of
    ``ENTRY_FILES`` (so never absolute, with a separator or ``..``) to ``{"sha256": 64 hex, "size": int}``."""
    if not isinstance(files, dict) or not files:
        raise ZooError(f"{where}: 'files' must be a non-empty mapping of file name -> sha256/size")
    for fname, rec in files.items():
        if not isinstance(fname, str) or fname not in ENTRY_FILES:
            raise ZooError(f"{where}: file name {fname!r} refused: an entry holds only {', '.join(ENTRY_FILES)} "
                           "(no paths, separators or '..')")
        if (not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str) or not SHA256_RE.match(rec["sha256"])
                or not is_int(rec.get("size")) or rec["size"] < 0):
            raise ZooError(f"{where}: record of file {fname!r} must be {{'sha256': 64 hex digits, 'size': bytes}}, "
                           f"got {rec!r}")
    return files


# index record keys: (type hint, required); the record tools/publish.py writes (publish.publish: facts + files)
RECORD_KEYS = {
    "task": (str, True), "base_model_id": (str, True), "base_model_revision": (str, False),
    "adapter_method": (str, True), "rank": (int, True), "split": (str, True), "metrics": (dict[str, float], True),
    "files": (dict, True), "main_metric": (str | None, False), "dataset": (str, False),
    "eval_max_samples": (int, False), "trainable_params": (int, False), "base_params": (int, False),
    "trainable_percent": (float, False), "training_command": (str, False), "license": (str, False),
    "published": (str, False), "preprocessing": (dict | None, False),
}


def check_record(record: object, where: str) -> dict:
    """One entry's index record (or a pulled ``zoo_entry.json``) checked by type before any use:
    the keys of ``RECORD_KEYS`` (required ones present), counts >= 0, ``files`` by ``check_file_records``."""
    if not isinstance(record, dict):
        raise ZooError(f"{where}: the record must be a JSON object, got {type(record).__name__}")
    for key, (hint, required) in RECORD_KEYS.items():
        if key not in record:
            if required:
                raise ZooError(f"{where}: the record has no {key!r}")
            continue
        try:
            value = check_json(record[key], hint, key)
        except JsonTypeError as e:
            raise ZooError(f"{where}: {e}") from None
        if isinstance(value, int) and value < 0 and key in ("rank", "eval_max_samples", "trainable_params",
                                                             "base_params"):
            raise ZooError(f"{where}: {key}={value}: expected an integer >= 0")
    check_file_records(record["files"], where)
    return record


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_records(directory: Path) -> dict[str, dict]:
    """``{file name: {"sha256", "size"}}`` for the plain files of ``directory`` (no sub-folders);
    makes them world-readable (0644), as files of a shared zoo should be."""
    out = {}
    for p in sorted(directory.iterdir()):
        if p.is_dir():
            raise ZooError(f"{p}: a zoo entry holds plain files only")
        os.chmod(p, 0o644)
        out[p.name] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    return out


def read_index(root: str | os.PathLike | None = None) -> dict:
    """The parsed index (an empty one when the zoo has none yet)."""
    path = zoo_root(root) / INDEX_NAME
    if not path.is_file():
        return {"format": FORMAT, "format_version": 1, "entries": {}}
    try:
        doc = read_json_file(path)
    except JsonFileError as e:
        raise ZooError(str(e)) from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("entries"), dict):
        raise ZooError(f"{path}: not a {FORMAT} index (missing format or entries)")
    for name, record in doc["entries"].items():  # names become folders: the publish --id rule, checked first
        if not is_safe_name(name, zoo=True):
            raise ZooError(f"{path}: entry name {name!r} refused: a zoo entry name is {name_rule(zoo=True)}")
        check_record(record, f"{path}: entry {name!r}")
    return doc


def write_index(doc: dict, root: str | os.PathLike | None = None) -> None:
    """Replace the index atomically: a temp file beside it, fsync, rename (a crash leaves the old one)."""
    from ..adapters.io import atomic_write_bytes  # here: reading and listing the zoo need no torch

    atomic_write_bytes(zoo_root(root) / INDEX_NAME, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def locked(root: str | os.PathLike | None = None) -> Iterator[Path]:
    """Hold the zoo's writer lock (one publisher / puller at a time): a flock on the folder itself,
    so no lock file is left in the zoo."""
    root = zoo_root(root)
    if root.resolve() == shipped_root():
        raise ZooError(f"{root} holds the entries shipped inside the installed package; publish or pull into "
                       f"your own zoo folder: --zoo-root DIR or ${ROOT_ENV}=DIR")
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield root
    finally:
        os.close(fd)  # releases the lock


def get_entry(name: str, root: str | os.PathLike | None = None) -> dict:
    """The index record of ``name``; a missing entry is a ZooError listing the known ones."""
    entries = read_index(root)["entries"]
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise ZooError(f"zoo has no entry {name!r} in {zoo_root(root) / INDEX_NAME} (known: {known})")
    return entries[name]


def verify_files(directory: Path, files: dict[str, dict], where: str) -> None:
    """Every listed file present as a plain file with its size and sha256, and nothing else in the
    folder (dot files and symlinks included: push uploads the folder's files, and a symlink could
    name any file of the machine); raise naming the file."""
    check_file_records(files, where)
    if directory.is_symlink() or not directory.is_dir():
        raise ZooError(f"{where}: folder {directory} is missing (or a symlink)")
    present = sorted(directory.iterdir())
    links = [p.name for p in present if p.is_symlink()]
    if links:
        raise ZooError(f"{where}: symlinks in the entry folder {directory}: {', '.join(links)}; an entry holds "
                       "plain files only")
    extra = [p.name for p in present if p.name not in files]
    if extra:
        raise ZooError(f"{where}: files not in the index: {', '.join(extra)} (in {directory})")
    for fname, rec in files.items():
        path = directory / fname
        if not path.is_file():
            raise ZooError(f"{where}: file {path} is missing (or not a plain file)")
        size = path.stat().st_size
        if size != rec["size"]:
            raise ZooError(f"{where}: file {path} has {size} bytes, the index records {rec['size']} "
                           "(truncated or modified)")
        digest = sha256_file(path)
        if digest != rec["sha256"]:
            raise ZooError(f"{where}: file {path} has sha256 {digest}, the index records {rec['sha256']} "
                           "(tampered or corrupted)")


def verify(name: str | None = None, root: str | os.PathLike | None = None) -> list[str]:
    """Check the hashes of entry ``name`` (all entries if None); return the names checked.

    Raises ZooError at the first problem, naming the entry and the file."""
    root = zoo_root(root)
    entries = read_index(root)["entries"]
    names = [name] if name is not None else sorted(entries)
    for n in names:
        verify_files(root / n, get_entry(n, root)["files"], f"zoo entry {n!r}")
    return names


def list_entries(root: str | os.PathLike | None = None) -> list[dict]:
    """One dict per entry: name, task, base, method, rank, split and metrics (sorted by name)."""
    entries = read_index(root)["entries"]
    return [{"name": n, "task": e["task"], "base": e["base_model_id"], "method": e["adapter_method"],
             "rank": e["rank"], "split": e["split"], "metrics": _headline_first(e["metrics"], e.get("main_metric"))}
            for n, e in sorted(entries.items())]


def _headline_first(metrics: dict, main: str | None) -> dict:
    """The main metric, then summary metrics, then per-class ones (names with '/')."""
    order = sorted(metrics, key=lambda k: (k != main, "/" in k))
    return {k: metrics[k] for k in order}


def format_table(rows: list[dict], max_metrics: int = 4) -> str:
    """A plain-text table of ``list_entries`` rows (first ``max_metrics`` metrics of each)."""
    if not rows:
        return "(the zoo is empty)"
    cells = [["name", "task", "base", "method", "split", "metrics"]]
    for r in rows:
        shown = list(r["metrics"].items())[:max_metrics]
        metrics = "  ".join(f"{k}={v:.4g}" for k, v in shown) + ("  ..." if len(r["metrics"]) > max_metrics else "")
        cells.append([r["name"], r["task"], r["base"], f"{r['method']} r{r['rank']}", r["split"], metrics])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in cells)
