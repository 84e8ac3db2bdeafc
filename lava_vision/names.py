"""The one set of name rules: run names (``output.name``), adapter names (``inject(..., name=)``,
``load_adapter(..., name=)``) and zoo entry ids (``tools/publish.py --id``). Standard library only,
on the bottom floor beside ``json_types``, so every layer (adapters included) uses these rules.

Every name is one non-empty path component that cannot climb out of its parent: it starts with
a letter or digit and holds only ASCII letters, digits and a few punctuation marks, so no
separator, no '..' prefix, no absolute path, no control character (``"a\\n"``) and no empty name.

* run names: 1-128 of letters, digits, '.', '_', '-', '+' (sweeps and recipes give such names);
* adapter names: 1-128 of letters, digits, '_', '-'; no '.', because an adapter's name is a key of
  the model's module tree and its state dict, where '.' separates module names;
* zoo ids: an adapter name (``zoo.load`` loads an entry's adapter under the entry's id), lower
  case and at most 64 characters (ids also name Hub repos). So ``quick.start`` is neither.
"""
from __future__ import annotations

import re

RUN_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
ADAPTER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
ZOO_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_RULES = {"run": (RUN_NAME_RE, "1-128 letters, digits, '.', '_', '-' or '+', starting with a letter or digit "
                               "(one folder name)"),
          "adapter": (ADAPTER_NAME_RE, "1-128 letters, digits, '_' or '-', starting with a letter or digit (no '.': "
                                       "it separates module names)"),
          "zoo": (ZOO_NAME_RE, "1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit (an "
                               "entry's id is its adapter's name: no '.')")}


def _kind(zoo: bool, kind: str | None) -> str:
    kind = kind or ("zoo" if zoo else "run")
    if kind not in _RULES:
        raise ValueError(f"name kind {kind!r}: expected one of {sorted(_RULES)}")
    return kind


def is_safe_name(name: object, zoo: bool = False, kind: str | None = None) -> bool:
    """Whether ``name`` fits the rule of ``kind`` (run | adapter | zoo; ``zoo=True`` is ``kind="zoo"``,
    the default is ``run``). The whole string must match: a trailing newline does not pass."""
    return isinstance(name, str) and _RULES[_kind(zoo, kind)][0].fullmatch(name) is not None


def name_rule(zoo: bool = False, kind: str | None = None) -> str:
    """The rule of ``kind`` in words, for error messages."""
    return _RULES[_kind(zoo, kind)][1]
