"""The import layout (docs/layout.md), function-level imports included: no module-level import cycle
in the package or in tools/, adapters use torch + safetensors + the standard library only, and
tools/ import the package and each other, nothing else of the checkout. The layers themselves are
import-linter contracts in pyproject.toml (``make test`` runs ``lint-imports``).

``python tests/test_layout.py`` lists every cycle it finds."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
# folders of the checkout a tool must not import from (recipes, tests, studies are not libraries)
CHECKOUT_FOLDERS = {p.name for p in ROOT.iterdir() if p.is_dir()} - {"lava_vision", "tools"}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted: every import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def package_graph(external: bool = False) -> grimp.ImportGraph:
    return grimp.build_graph("lava_vision", include_external_packages=external, cache_dir=None)


def package_imports() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its file (grimp reads function bodies too)."""
    graph = package_graph()
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def tool_imports() -> dict[str, set[str]]:
    """tool -> the top-level names of every absolute import in its file, function bodies included."""
    edges = {}
    for path in sorted((ROOT / "tools").glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}:{node.lineno}: a relative import in a script"
                names.add(node.module.split(".")[0])
        edges[path.stem] = names
    return edges


def test_cycle_finder_finds_a_cycle_and_only_it():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": set(), "f": {"f", "e"}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_no_import_cycle_in_the_package():
    edges = package_imports()
    assert len(edges) > 100  # the whole package was read
    assert cycles(edges) == []


def test_tools_have_no_cycle_and_import_only_the_package_and_each_other():
    edges = tool_imports()
    tools = set(edges)
    assert {"train", "_common", "benchmark_models"} <= tools
    assert cycles({t: names & tools for t, names in edges.items()}) == []
    wrong = {t: sorted(names & CHECKOUT_FOLDERS) for t, names in edges.items() if names & CHECKOUT_FOLDERS}
    assert wrong == {}, f"tools importing checkout folders that are not the package: {wrong}"


def test_adapters_import_torch_safetensors_and_the_standard_library_only():
    graph = package_graph(external=True)
    imported = {i for m in graph.find_descendants("lava_vision.adapters") | {"lava_vision.adapters"}
                for i in graph.find_modules_directly_imported_by(m)}
    outside = {i for i in imported if not i.startswith("lava_vision.adapters")}
    # lava_vision: __version__; json_types, names: the standard-library-only JSON type checks and name rules
    allowed = ({"torch", "safetensors", "lava_vision", "lava_vision.json_types", "lava_vision.names"}
               | set(sys.stdlib_module_names))
    assert sorted(outside - allowed) == []
    assert {"torch", "safetensors"} <= outside


if __name__ == "__main__":
    for found in cycles(package_imports()) + cycles({t: n & set(tool_imports()) for t, n in tool_imports().items()}):
        print(" <-> ".join(found))
