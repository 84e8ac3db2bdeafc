"""The model zoo: adapters this project published, as data (``zoo/index.json`` + one folder each).

    from lava_vision import zoo
    zoo.list()                   # [{"name", "task", "base", "method", "rank", "split", "metrics"}, ...]
    m = zoo.load("quickstart")   # verified, on its base, eval mode: m.model, m.task, m.config, m.preprocess
    zoo.verify()                 # every entry's sha256s

Publishing (``tools/publish.py``) and the optional Hub mirror (``zoo.hub``) live in submodules.
The zoo folder is ``root=`` (every function takes it; ``--zoo-root`` in the tools), else
``$LAVA_VISION_ZOO``, else this checkout's ``zoo/``, else the entries shipped in the installed package.
"""
import importlib
from typing import Any

from .index import ZooError, format_table, read_index, verify, zoo_root
from .index import list_entries as list  # noqa: A001  (zoo.list() reads naturally; builtins unaffected elsewhere)
from .load import ZooModel, load  # imports torch only when an entry is loaded

# Preprocess needs torch; listing and verifying do not (``tools/zoo.py list`` answers without importing it)
_LAZY = {"Preprocess": "..data.preprocess"}

__all__ = ["Preprocess", "ZooError", "ZooModel", "format_table", "list", "load", "read_index", "verify", "zoo_root"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
