"""What the analysis tools accept: a run folder, an adapter folder or a zoo entry, loaded onto its base."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from .. import tasks  # noqa: F401  (registers the packaged task names a run's config.json uses)
from ..train.config import RunConfig
from ..train.recipe import RecipeError
from ..train.run_files import read_run_config_doc


@dataclass
class Loaded:
    """A trained adapter on its base model. ``label`` names it in tables and plot titles."""

    label: str
    model: nn.Module
    config: RunConfig
    adapter_dir: Path | None  # None for a zoo entry (the zoo verified and loaded it)


def run_config_of(adapter_dir: Path) -> RunConfig | None:
    """The resolved config of the run an adapter folder belongs to (``<run>/best`` or ``<run>/last``)."""
    path = adapter_dir.parent / "config.json"
    if not path.is_file():
        return None
    doc = read_run_config_doc(path)  # JsonFileError naming the file
    try:
        return RunConfig.from_dict(doc)
    except KeyError as e:  # an unknown task: its recipe registers it
        raise KeyError(f"{path}: {e.args[0] if e.args else e}; pass --recipe RECIPE (the run's recipe "
                       "registers its task)") from e
    except (ValueError, TypeError) as e:
        raise RecipeError(f"{path}: {e}") from e


def load_for_analysis(target: str | os.PathLike, config: RunConfig | None = None) -> Loaded:
    """Load ``target`` (a run folder or an adapter folder) with its adapter injected.

    ``config`` (a recipe's) says which base model to build; without it the run's ``config.json``
    is used, which an adapter folder outside a run folder does not have.
    """
    from ..train import find_adapter_dir, load_trained

    path = Path(target)
    adapter_dir = find_adapter_dir(path)
    cfg = config if config is not None else run_config_of(adapter_dir)
    if cfg is None:
        raise FileNotFoundError(f"{adapter_dir}: an adapter folder outside a run folder (no "
                                f"{adapter_dir.parent / 'config.json'}); pass --recipe RECIPE to say which base "
                                "model it adapts")
    _, model = load_trained(cfg, adapter_dir)
    label = path.resolve().name if adapter_dir != path else f"{adapter_dir.parent.name}/{adapter_dir.name}"
    return Loaded(label, model.eval(), cfg, adapter_dir)


def load_zoo_entry(name: str, root: str | None = None, allow_task_module: bool = False) -> Loaded:
    """A zoo entry (in zoo folder ``root``, see ``zoo.zoo_root``), verified and loaded by ``lava_vision.zoo.load``
    (``allow_task_module``: see there)."""
    from .. import zoo

    # checks every sha256 and the base weights; raises ZooError naming the culprit
    entry = zoo.load(name, root, allow_task_module=allow_task_module)
    return Loaded(name, entry.model.eval(), entry.config, None)
