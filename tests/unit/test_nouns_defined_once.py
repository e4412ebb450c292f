"""Strategy and metric names are defined once, in ``reportgen/registry/`` (issue 17: "strategy and metric names
are defined once").

A grep with a parser: every module of the package is read as Python and any tuple, list or set literal that
spells two or more strategy names, or two or more metric names, is a second definition (the lists of
``config.STRATEGIES``, ``builder.STRATEGY_ORDER``, ``results.METRIC_COLS`` ... that this registry replaced);
so is a dict keyed by strategy names (``figures.STRATEGY_STYLE``) and a regex alternation of them (the old
cell-id pattern). Single names used as values (``strategy == "warmup"``, ``b="scratch"``) are uses, not
definitions. Catalogs are JSON and not scanned; tests are not scanned.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from reportgen.registry import metrics as metric_registry
from reportgen.registry import strategies as strategy_registry

PACKAGE = Path(__file__).resolve().parents[2] / "reportgen"
REGISTRY = PACKAGE / "registry"
STRATEGIES = frozenset(strategy_registry.NAMES)
METRICS = frozenset(metric_registry.NAMES)
ALTERNATION = re.compile(r"\b({0})\|({0})\b".format("|".join(sorted(STRATEGIES))))


def _names(nodes, names: frozenset[str]) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in names]


def second_definitions(source: str) -> list[str]:
    """``line: what`` for every literal in ``source`` that spells out a registry list."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for kind, names in (("strategy", STRATEGIES), ("metric", METRICS)):
                found = _names(node.elts, names)
                if len(found) >= 2:
                    out.append(f"{node.lineno}: {kind} names {found}")
        elif isinstance(node, ast.Dict):
            found = _names([k for k in node.keys if k is not None], STRATEGIES)
            if len(found) >= 2:
                out.append(f"{node.lineno}: a dict keyed by strategy names {found}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ALTERNATION.search(node.value):
            out.append(f"{node.lineno}: a pattern of strategy names {node.value!r}")
    return out


def test_strategy_and_metric_names_are_spelled_out_only_in_the_registry() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if REGISTRY in path.parents:
            continue
        offenders += [f"{path.relative_to(PACKAGE.parent)}:{hit}" for hit in second_definitions(path.read_text())]
    assert not offenders, "define these in reportgen/registry/ and read them from there:\n" + "\n".join(offenders)


def test_the_scan_finds_the_definitions_the_registry_replaced() -> None:
    """The scan itself can fail: each form of second definition it must catch, as the code had them."""
    assert second_definitions('STRATEGY_ORDER = ("finetune", "frozen", "warmup", "scratch")')
    assert second_definitions('STRATEGY_STYLE = {"finetune": {"color": "#0072B2"}, "frozen": {}}')
    assert second_definitions('m = re.match(r"-(?P<s>finetune|frozen|scratch|warmup)-s", cid)')
    assert second_definitions('METRIC_COLS = ["accuracy", "balanced_accuracy", "macro_f1", "auc", "ece"]')
    assert second_definitions('if name in {"auc", "ece"}: pass')
    assert not second_definitions('if strategy == "warmup": pass\nrow = {"auc": 1.0, "macro_f1": 0.5}')


def test_the_registry_holds_every_name_once() -> None:
    assert len(strategy_registry.NAMES) == len(set(strategy_registry.NAMES))
    assert len(metric_registry.NAMES) == len(set(metric_registry.NAMES))
    sources = "\n".join(p.read_text() for p in REGISTRY.glob("*.py"))
    for name in STRATEGIES | METRICS:
        assert f'"{name}"' in sources
