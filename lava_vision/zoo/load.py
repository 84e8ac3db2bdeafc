"""Load a zoo entry: verify its files, rebuild the base from the stored config, check the base
weights' digest, inject and load the adapter. Any failure raises before a model is returned.

Several entries trained on the same base weights share one base: ``load([a, b])`` (or
``load(b, base=loaded_a)``) loads each entry's adapter under its own name onto one model and
returns one ``ZooModel`` per entry; each predicts with its own adapter (or any ``adapter=`` mix)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..json_types import JsonFileError, JsonTypeError, check_json, read_json_object
from .index import ZooError, get_entry, verify_files, zoo_root
from .portable import from_portable

if TYPE_CHECKING:  # imported where used: `import lava_vision.zoo` (listing, verifying) needs no torch
    import torch
    from torch import nn

    from ..data.preprocess import Preprocess
    from ..train.config import RunConfig

CONFIG_FILE, METRICS_FILE, CARD_FILE = "config.json", "metrics.json", "README.md"


@dataclass
class ZooModel:
    """A ready model (eval mode, adapter loaded) with everything needed to use it.

    predict(image): an RGB ``H x W x 3`` uint8 array, PIL image or path -> the task's result at the
    image's size (``lava_vision.inference``: class probabilities, depth in metres, a mask); for
    text-to-image ``predict(prompt, seed=0)`` -> an image.
    classes: class names of a classification entry (None otherwise).
    metrics: the recorded metrics, ``{name: value}``; record: all of ``metrics.json`` (split,
    max_samples, batch size, device, subsets).
    preprocess: RGB ``H x W x 3`` uint8 -> ``1 x 3 x h x w`` model input, or None when the task
    describes no image preprocessing (e.g. text-to-image)."""

    name: str
    model: nn.Module
    task: Any
    config: RunConfig
    preprocess: Preprocess | None
    record: dict = field(default_factory=dict)
    entry: dict = field(default_factory=dict)
    directory: Path | None = None

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.record.get("metrics", {}))

    @property
    def classes(self) -> list[str] | None:
        return list(self.task.classes) if hasattr(self.task, "classes") else None

    def predict(self, item: Any, seed: int = 0, adapter: str | dict[str, float] | None = None) -> Any:
        """The task's result for one image (or prompt). adapter: which of the shared model's adapters
        predicts, a name or a mix ``{name: weight}`` (``adapters.set_adapter``); default: this entry's.
        The choice stays active on the model afterwards. Without ``adapter``, this entry's adapter
        must still be on the model: after ``delete_adapter`` (or ``unload``) it is a ZooError naming it,
        never an answer from the model's other adapters."""
        from ..adapters import set_adapter
        from ..adapters.named import adapter_names
        from ..inference import Predictor  # lazy: inference imports this package's preprocess

        if adapter is None:
            present = adapter_names(self.model)
            if self.name not in present:
                raise ZooError(f"zoo entry {self.name!r}: the model no longer has adapter {self.name!r} (deleted, "
                               f"or merged away by unload); it has {present or 'no adapters'}; pass adapter=... to "
                               f"predict with another, or zoo.load({self.name!r}) again")
        set_adapter(self.model, adapter if adapter is not None else self.name)
        return Predictor(self.task, self.model, self.config).predict(item, seed)


def base_digest(model: nn.Module, skip: set[str] | frozenset[str] = frozenset()) -> str:
    """``weights-sha256:<hex>`` over the base's state dict (names, dtypes, shapes, bytes), without
    ``skip`` (the modules_to_save tensors the adapter file replaces, e.g. a new random head); of an
    adapted model, over the state dict its base had (``adapters.named.base_state_dict``)."""
    from ..adapters.fingerprint import tensors_digest
    from ..adapters.named import base_state_dict

    state = base_state_dict(model)
    return f"weights-sha256:{tensors_digest((k, v) for k, v in sorted(state.items()) if k not in skip)}"


def digest_skip(adapter_doc: dict) -> set[str] | None:
    """State-dict keys left out of the digest; None when the adapter holds every weight (``full``)."""
    if adapter_doc["adapter_config"].get("method") == "full":
        return None
    return set(adapter_doc["fingerprint"].get("saved", {}))


def check_entry_task(task: object, where: str, allow_task_module: bool = False) -> str:
    """The ``task`` of an entry's config.json, checked before anything is imported: a task this
    installation knows (``lava_vision.tasks.TASKS``), or - only with ``allow_task_module`` (the
    user's explicit opt-in; the module's import-time code runs) - a ``"package.module:Class"``."""
    from ..tasks import TASKS

    if not isinstance(task, str):
        raise ZooError(f"{where}: task={task!r:.60} is not a task name")
    if task in TASKS:
        return task
    if ":" in task and allow_task_module:
        return task
    if ":" in task:
        raise ZooError(f"{where}: names the task class {task!r} from a module of its own; importing it runs that "
                       "module's code, so it is refused unless you trust the entry: allow_task_module=True "
                       "(tools: --allow-task-module)")
    raise ZooError(f"{where}: unknown task {task!r}; this installation knows {sorted(TASKS)}")


def _read_object(path: Path, where: str, what: str) -> dict:
    """A JSON object from an entry's file; ZooError naming the entry and the file otherwise."""
    try:
        return read_json_object(path, what)
    except JsonFileError as e:  # names the file
        raise ZooError(f"{where}: {e}") from e
    except OSError as e:
        raise ZooError(f"{where}: {path} is not readable ({e})") from e


def read_config(directory: Path, where: str, allow_task_module: bool = False) -> RunConfig:
    """The entry's config.json: its task checked first (``check_entry_task``), then every section by
    type (``RunConfig.from_dict``) and range (``check_config``, trackers aside: nothing is logged)."""
    from ..train.config import RunConfig
    from ..train.validate import check_config

    path = directory / CONFIG_FILE
    data = from_portable(_read_object(path, where, "a run config"))
    check_entry_task(data.get("task"), f"{where}: {path}", allow_task_module)
    try:
        cfg = RunConfig.from_dict(data)
        check_config(cfg, trackers=False)
    except (KeyError, TypeError, ValueError) as e:  # RecipeError, AdapterConfigError, TaskError are ValueErrors
        raise ZooError(f"{where}: {path} is not a usable run config ({type(e).__name__}: {e})") from e
    return cfg


def read_metrics(directory: Path, where: str) -> dict:
    """The entry's ``metrics.json``: a JSON object whose ``metrics`` maps names to numbers; ZooError
    naming the file otherwise."""
    path = directory / METRICS_FILE
    record = _read_object(path, where, "a metrics record")
    try:
        check_json(record.get("metrics", {}), dict[str, float], "metrics")
    except JsonTypeError as e:
        raise ZooError(f"{where}: {path}: {e}") from None
    return record


def build_from_dir(directory: Path, where: str, config: RunConfig | None = None, allow_task_module: bool = False
                   ) -> tuple[RunConfig, dict, Any, nn.Module, str | None]:
    """``(config, adapter doc, task, base model, base digest or None for full)`` of a stored entry;
    ``config`` replaces the stored one (e.g. with ``--set`` overrides applied)."""
    from ..adapters import read_adapter_config
    from ..train.build import build_base

    cfg = config if config is not None else read_config(directory, where, allow_task_module)
    doc = read_adapter_config(directory)
    task, model = build_base(cfg)
    skip = digest_skip(doc)
    return cfg, doc, task, model, (base_digest(model, skip) if skip is not None else None)


def load_dir(directory: Path, entry: dict, name: str, device: str | torch.device = "cpu",
             check_base: bool = True, config: RunConfig | None = None, allow_task_module: bool = False) -> ZooModel:
    """Load the entry stored in ``directory`` whose index record is ``entry``."""
    from ..adapters import AdapterFileError, load_adapter
    from ..data.preprocess import task_preprocess

    where = f"zoo entry {name!r}"
    verify_files(directory, entry["files"], where)
    cfg, _, task, model, digest = build_from_dir(directory, where, config, allow_task_module)
    if check_base and digest is not None and digest != entry.get("base_model_revision"):
        raise ZooError(f"{where}: the base model built from {directory / CONFIG_FILE} ({entry['base_model_id']}) "
                       f"has {digest}, the adapter was trained on {entry.get('base_model_revision')}; refusing to "
                       "load onto different base weights")
    try:
        load_adapter(model, directory, name=name)
    except AdapterFileError as e:
        raise ZooError(f"{where}: {e}") from e
    model.to(device).eval()
    record = read_metrics(directory, where)
    return ZooModel(name=name, model=model, task=task, config=cfg, preprocess=task_preprocess(task),
                    record=record, entry=entry, directory=directory)


def load(name: str | list[str], root: str | os.PathLike | None = None, device: str | torch.device = "cpu",
         check_base: bool = True, config: RunConfig | None = None, base: nn.Module | ZooModel | None = None,
         allow_task_module: bool = False) -> ZooModel | list[ZooModel]:
    """Build entry ``name``'s base model, verify every file's sha256 and the base weights' digest,
    load the adapter (named after the entry); return a ``ZooModel`` in eval mode on ``device``.

    name: a list of entries loads them all onto one base (the first entry's) and returns a list
    (``config`` replaces the first entry's config only).
    base: a model (or a loaded ``ZooModel``) to load this entry onto, beside its adapters, instead of
    building one; its base weights' digest must be the entry's (else ZooError naming both). The
    model keeps its device.
    config: build from this config instead of the stored one (``entry_config`` + changes, e.g. another
    data root); the base digest and the adapter fingerprint are checked all the same.
    check_base=False skips only the weights digest (the adapter's layer fingerprint is always checked).
    allow_task_module: accept an entry whose task is a ``"package.module:Class"`` of its own (importing
    it runs its code); otherwise only the tasks this installation knows load (``check_entry_task``).
    Raises ZooError (missing entry, tampered/truncated file, different base) with nothing loaded."""
    root = zoo_root(root)
    if isinstance(name, (list, tuple)):
        if not name or len(set(name)) != len(name):
            raise ZooError(f"zoo.load: expected distinct entry names, got {list(name)}")
        # config: the first entry's only
        first = load(name[0], root, device, check_base, config, base, allow_task_module)
        return [first] + [load(n, root, device, check_base, None, first, allow_task_module) for n in name[1:]]
    if base is None:
        return load_dir(root / name, get_entry(name, root), name, device, check_base, config, allow_task_module)
    return load_onto(root / name, get_entry(name, root), name, base, check_base, config, allow_task_module)


def load_onto(directory: Path, entry: dict, name: str, base: nn.Module | ZooModel, check_base: bool = True,
              config: RunConfig | None = None, allow_task_module: bool = False) -> ZooModel:
    """Load the entry stored in ``directory`` onto ``base`` (a model or ZooModel) beside its adapters."""
    from ..adapters import AdapterFileError, load_adapter, read_adapter_config
    from ..adapters.named import adapter_names
    from ..data.preprocess import task_preprocess
    from ..tasks import get_task

    where = f"zoo entry {name!r}"
    verify_files(directory, entry["files"], where)
    model = base.model if isinstance(base, ZooModel) else base
    source = (f"the base of zoo entry {base.name!r} ({base.entry.get('base_model_id')})"
              if isinstance(base, ZooModel) else f"the given {type(model).__name__}")
    if name in adapter_names(model):
        raise ZooError(f"{where}: {source} already has an adapter named {name!r}")
    cfg = config if config is not None else read_config(directory, where, allow_task_module)
    doc = read_adapter_config(directory)
    skip = digest_skip(doc)
    if skip is None:
        raise ZooError(f"{where}: a method='full' entry replaces every weight; it cannot share a base")
    if check_base:
        digest = base_digest(model, skip)
        if digest != entry["base_model_revision"]:
            raise ZooError(f"{where} was trained on {entry['base_model_id']} with {entry['base_model_revision']}, "
                           f"but {source} has {digest}; refusing to load onto different base weights")
    try:
        load_adapter(model, directory, name=name)
    except AdapterFileError as e:
        raise ZooError(f"{where}: {e}") from e
    model.eval()
    task = get_task(cfg.task)(cfg)
    record = read_metrics(directory, where)
    return ZooModel(name=name, model=model, task=task, config=cfg, preprocess=task_preprocess(task),
                    record=record, entry=entry, directory=directory)


def entry_config(name: str, root: str | os.PathLike | None = None, allow_task_module: bool = False) -> RunConfig:
    """The stored run config of entry ``name`` (its files verified first), paths resolved for this machine."""
    root = zoo_root(root)
    where = f"zoo entry {name!r}"
    entry = get_entry(name, root)
    verify_files(root / name, entry["files"], where)
    return read_config(root / name, where, allow_task_module)
