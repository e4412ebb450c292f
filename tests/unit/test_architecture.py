"""The package's shape: its import graph (function-level imports included) and the size of its modules.

The graph is read from the source with ``ast``, not by importing: an import inside a function is an arrow as
much as one at the top (it runs the moment that function does), and a cycle hidden behind one is still a cycle.
Arrows go between modules (``reportgen.data.pipeline``); ``from .x import y`` points at ``x.y`` when ``y`` is a
module and at ``x`` otherwise, as Python resolves it.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "reportgen"

# Cycles other engineers are removing in issue 17 (A: config ↔ data; D: consistency ↔ claims ↔ facts). Each is
# an xfail(strict=True): when the cycle is gone the test passes, strict turns that into a failure, and the entry
# must be deleted here. Empty this once both branches are merged.
# A cycle is known when its strongly connected component holds both modules named here.
KNOWN_CYCLES: dict[str, frozenset[str]] = {}  # none left: the last two went with issue 17's merge

# Modules of 450 lines or more today (line counts of 2026-12-06); each is being split in issue 17. Shrink this
# list as they are split, never grow it (a test fails on a stale entry).
LONG_MODULES = {
    "reportgen/store/schema.py",  # 570: every record of the store, one pydantic class each
}
MAX_LINES = 450


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py")) if "__pycache__" not in p.parts}


def _imports(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """Every reportgen module that ``path`` (module ``name``) imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in known else target


@functools.cache
def _graph() -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in _read_graph().items()}


def import_graph() -> dict[str, set[str]]:
    """module → the reportgen modules it imports (read once per session)."""
    return {k: set(v) for k, v in _graph().items()}


def _read_graph() -> dict[str, set[str]]:
    """module → the reportgen modules it imports (the nearest known module for ``import a.b.c`` of a non-module)."""
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        out = set()
        for target in _imports(path, name, known):
            while target and target not in known:  # `import reportgen.x.y` where y is a name, not a module
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("reportgen"):
                out.add(target)
        graph[name] = out
    return graph


def components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan): each holds at least one cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component, as ``[a, b, ..., a]``."""
    return [a_cycle(graph, comp) for comp in components(graph)]


def a_cycle(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """One closed walk that shows the component: from its first module, the shortest way back to it."""
    start = min(comp)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return sorted(comp)  # pragma: no cover - a strongly connected component always has a way back


def _show(graph: dict[str, set[str]], comps: list[set[str]]) -> str:
    return "\n".join(f"  {' -> '.join(a_cycle(graph, c))}   (component: {', '.join(sorted(c))})" for c in comps)


# --------------------------------------------------------------------------- the graph reader itself


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    g = import_graph()
    # `validate` imports preflight inside the command function only
    assert "reportgen.train.preflight" in g["reportgen.cli.prepare"]
    assert "reportgen.errors" in g["reportgen.cli.group"]  # `from ..errors import ...` at the top
    assert {"reportgen.cli.prepare", "reportgen.cli.group"} <= g["reportgen.cli"]  # `from . import prepare`
    assert all(t.startswith("reportgen") for targets in g.values() for t in targets)


def test_the_cycle_finder_finds_a_hidden_cycle_and_prints_it() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}}
    assert sorted(map(tuple, cycles(g))) == [("a", "b", "c", "a"), ("e", "e2", "e")]
    assert cycles({"a": {"b"}, "b": set()}) == []


# --------------------------------------------------------------------------- no cycles


def test_the_import_graph_has_no_cycle_beyond_the_known_ones() -> None:
    graph = import_graph()
    found = [c for c in components(graph) if not any(k <= c for k in KNOWN_CYCLES.values())]
    assert not found, "import cycles (function-level imports included):\n" + _show(graph, found)


# --------------------------------------------------------------------------- layers

LOWER = ("reportgen.store", "reportgen.config", "reportgen.report")
UPPER = ("reportgen.train", "reportgen.launch", "reportgen.cli")


def _in(name: str, layers: tuple[str, ...]) -> bool:
    return any(name == layer or name.startswith(layer + ".") for layer in layers)


def test_no_arrow_from_store_config_or_report_up_into_train_launch_or_cli() -> None:
    wrong = sorted(f"{src} -> {dst}" for src, targets in import_graph().items() if _in(src, LOWER)
                   for dst in targets if _in(dst, UPPER))
    assert not wrong, "arrows up from the store, config or report layers:\n  " + "\n  ".join(wrong)


def test_no_module_under_report_imports_torch() -> None:
    """Render reads only the store: torch is never imported by the report package, at any depth of its code.
    (tests/report/test_render.py and the gold test check the same at run time, in a fresh process.)"""
    heavy = ("torch", "torchvision")
    found = []
    for name, path in modules().items():
        if not _in(name, ("reportgen.report",)):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in heavy]
    assert not found, "\n".join(found)


# --------------------------------------------------------------------------- module size


def _lines() -> dict[str, int]:
    return {str(p.relative_to(PKG.parent)): len(p.read_text(encoding="utf-8").splitlines())
            for p in modules().values()}


def test_every_module_is_under_the_line_limit_or_on_the_shrinking_list() -> None:
    lines = _lines()
    over = sorted(f"{p}: {n} lines" for p, n in lines.items() if n >= MAX_LINES and p not in LONG_MODULES)
    assert not over, f"modules of {MAX_LINES} lines or more (split them by job):\n  " + "\n  ".join(over)


def test_the_long_module_list_names_only_long_modules() -> None:
    """A module that was split leaves the list, so the list only ever shrinks."""
    lines = _lines()
    stale = sorted(p for p in LONG_MODULES if lines.get(p, 0) < MAX_LINES)
    assert not stale, "now under the limit (or gone): remove from LONG_MODULES: " + ", ".join(stale)
