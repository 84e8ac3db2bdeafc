"""The one rule for names that become a folder: zoo entry ids (``tools/publish.py --id``) and run
names (``output.name``). A name is a single path component that cannot climb out of its parent:
it starts with a letter or digit and holds only letters, digits, '.', '_', '-' and '+', so no
separator, no '..' prefix, no absolute path. Zoo ids are also lower case and at most 64
characters (they name Hub repos); run names keep the case sweeps and recipes give them."""
from __future__ import annotations

import re

RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
ZOO_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def is_safe_name(name: object, zoo: bool = False) -> bool:
    """Whether ``name`` is a folder name by the rule above (``zoo``: the stricter zoo id form)."""
    return isinstance(name, str) and bool((ZOO_NAME_RE if zoo else RUN_NAME_RE).fullmatch(name))


def name_rule(zoo: bool = False) -> str:
    """The rule in words, for error messages."""
    if zoo:
        return "1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
    return "1-128 letters, digits, '.', '_', '-' or '+', starting with a letter or digit (one folder name)"
