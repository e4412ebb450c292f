"""The description step's modules: no import cycle among them (function-level imports included), every field of
the persisted description documented, the typed comparison rows round-trip the JSON compare_cells writes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from reportgen.describe import compare as C
from reportgen.describe.model import (
    CellFacts,
    Comparison,
    ComparisonKind,
    McNemar,
    MeanSd,
    PairedTest,
    SeedSummary,
)

ROOT = Path(__file__).resolve().parents[2]
DESCRIBE = ROOT / "reportgen" / "describe"
DOCS = ROOT / "docs" / "results-store.md"


def _imports(path: Path) -> set[str]:
    """Every reportgen.describe module ``path`` imports, at any depth of the file (functions included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y / from . import x
                out |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif node.module and node.module.startswith("reportgen.describe."):
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.startswith("reportgen.describe.")}
    return out


def test_no_import_cycle_in_describe_even_inside_functions() -> None:
    graph = {p.stem: _imports(p) & {q.stem for q in DESCRIBE.glob("*.py")} for p in DESCRIBE.glob("*.py")}
    assert "claims" not in graph["consistency"] and "consistency" in graph["facts"]  # the old cycle's arrows

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, ()):
            assert nxt not in path, f"import cycle: {' → '.join(path[path.index(nxt):] + [nxt])}"
            visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])


def test_split_modules_stay_small() -> None:
    for name in ("checks", "compare", "datachecks", "pairedtests", "claims", "facts", "model", "persist"):
        n = len((DESCRIBE / f"{name}.py").read_text(encoding="utf-8").splitlines())
        assert n <= 400, f"describe/{name}.py has {n} lines"


def test_docs_list_every_field_of_the_description() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for model in (Comparison, PairedTest, McNemar, SeedSummary, MeanSd):
        for name in model.model_fields:
            assert re.search(rf"`{re.escape(name)}`", text), f"{model.__name__}.{name} missing from {DOCS.name}"
    for name in CellFacts.__dataclass_fields__:
        assert re.search(rf"`{re.escape(name)}`", text), f"CellFacts.{name} missing from {DOCS.name}"


def test_compare_rows_are_typed_and_round_trip() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    cells = []
    for i, (bb, s) in enumerate([("r18", "finetune"), ("r18", "scratch"), ("d121", "finetune"), ("d121", "scratch")]):
        p1 = np.clip(0.5 + (0.1 + 0.1 * i) * (2 * y - 1) + rng.normal(0, 0.2, 80), 0.01, 0.99)
        cells.append({"id": f"c{i}", "dataset": "ds", "backbone": bb, "strategy": s, "seed": 0, "labels": y,
                      "probs": np.stack([1 - p1, p1], axis=1), "val_score": float(i)})
    rows = C.compare_cells(cells, n_boot=50)
    typed = [Comparison.model_validate(r) for r in rows]
    assert {t.kind for t in typed} == set(ComparisonKind)
    for raw, t in zip(rows, typed, strict=True):
        assert t.to_json() == Comparison.model_validate(t.to_json()).to_json()
        assert t.macro_f1.p_adjusted == raw["macro_f1"]["p_adjusted"] and t.accuracy.mcnemar is not None
        back = t.flipped()
        assert (back.a, back.b) == (t.b, t.a) and back.macro_f1.diff == -t.macro_f1.diff
        assert back.macro_f1.ci == (-t.macro_f1.ci[1], -t.macro_f1.ci[0])


@pytest.mark.parametrize("val, test, ci, outcome", [
    (0.946, 0.885, (0.859, 0.911), "large"),    # the demo: 6.1 points, above the CI (a fixed 10 points missed it)
    (0.900, 0.885, (0.859, 0.911), "small"),    # inside the CI: test-set noise explains it
    (0.800, 0.885, (0.859, 0.911), "reverse"),  # validation below the CI
    (0.990, 0.885, (None, None), "large"),      # no CI stored: the fixed 10-point rule
    (0.950, 0.885, (None, None), "small"),
])
def test_validation_test_gap_is_judged_against_the_test_ci(val, test, ci, outcome) -> None:
    from types import SimpleNamespace

    from reportgen.describe.claims import classify_gap

    cell = SimpleNamespace(val_macro_f1=val, macro_f1=test, macro_f1_ci=ci)
    facts = SimpleNamespace(cell=lambda cid: cell)
    assert classify_gap(facts, {"cell": "x"})[0] == outcome
