"""Results that scale with seeds, and the compact layout across strategies.

On a store written by the real runner with three seeds, and the same store cut to two seeds: the results
section has as many figures, tables and rows with three seeds as with two (one row and one panel per backbone
over its seeds); the pooled confusion counts are the sums of the stored per-seed matrices; the per-seed rows
of the per-run appendix are the stored metrics; the brief report leaves them out and says where they are.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from reportgen.describe.persist import ensure_description
from reportgen.report.context import build_context
from reportgen.report.format import dec, pct
from reportgen.report.model import Figure, Paragraph, Table
from reportgen.store import load_run

STRATEGIES = ["finetune", "frozen", "scratch"]
DS = "pneumoniamnist"
NAMES = {"finetune": "Fine-tuning", "frozen": "Fixed feature extractor", "scratch": "Training from scratch"}


@pytest.fixture(scope="module")
def three_seeds(real_store: Path, tmp_path_factory) -> Path:
    """The session's real store (3 strategies × seeds 0, 1) with seed 2 added by the real runner into a copy of
    it (the runner keeps the finished cells and trains the three new ones)."""
    from realstore import build_store

    root = tmp_path_factory.mktemp("seeds3")
    shutil.copytree(real_store, root / "runs" / "real")
    return build_store(root, name="real", seeds=[0, 1, 2])


def _ctx(run_dir: Path, lang: str = "en", detail: str | None = None):
    run = load_run(run_dir)
    return run, build_context(run, ensure_description(run), lang, detail=detail)


def _section(ctx, anchor: str):
    return next(s for s in ctx.sections if s.anchor == anchor)


def _shape(sec) -> tuple[int, int, int]:
    tables = [b for b in sec.blocks if isinstance(b, Table)]
    return (sum(isinstance(b, Figure) for b in sec.blocks), len(tables), sum(len(t.rows) for t in tables))


def _stored(run_dir: Path, cid: str) -> dict:
    return json.loads((run_dir / "cells" / cid / "metrics.json").read_text(encoding="utf-8"))["test"]


def test_results_do_not_grow_with_seeds(three_seeds: Path, store_copy: Path) -> None:
    run3, ctx3 = _ctx(three_seeds)
    run2, ctx2 = _ctx(store_copy)
    assert len(run3.cells) == 9 and len(run2.cells) == 6
    res3, res2 = _section(ctx3, "sec-results"), _section(ctx2, "sec-results")
    assert _shape(res3) == _shape(res2)
    figures = [b for s in ctx3.sections for b in s.blocks if isinstance(b, Figure)]
    assert len(figures) == len([b for s in ctx2.sections for b in s.blocks if isinstance(b, Figure)])
    # One backbone: the compact layout, a table and a figure of each kind for both strategies.
    refs = [b.ref for b in res3.blocks if isinstance(b, Table | Figure)]
    assert refs[0] == f"metrics:{DS}" and f"cm:{DS}" in refs and f"report:{DS}" in refs
    metrics = next(b for b in res3.blocks if isinstance(b, Table) and b.ref == f"metrics:{DS}")
    assert len(metrics.rows) == len(STRATEGIES)  # one row per strategy × backbone, not per seed
    # Mean ± sd of the stored values (sample sd), the seed count under the backbone's name.
    for row, s in zip(metrics.rows, STRATEGIES, strict=True):
        acc = [_stored(three_seeds, c.id)["accuracy"] for c in run3.cells if c.cell.strategy == s]
        assert row[2].text == pct(statistics.mean(acc)) and row[2].sub == f"± {pct(statistics.stdev(acc))}"
        assert row[1].sub.startswith("3 seeds")
    # The per-seed rows moved to the per-run appendix: 3 seeds × 3 strategies rows, 2 × 3 with two seeds.
    per3 = [b for b in _section(ctx3, "sec-per-run").blocks if isinstance(b, Table) and b.ref.startswith("seedruns:")]
    per2 = [b for b in _section(ctx2, "sec-per-run").blocks if isinstance(b, Table) and b.ref.startswith("seedruns:")]
    assert sum(len(t.rows) for t in per3) == 9 and sum(len(t.rows) for t in per2) == 6


def test_pooled_confusion_is_the_sum_of_the_stored_matrices(three_seeds: Path) -> None:
    run, ctx = _ctx(three_seeds)
    fig = next(b for b in _section(ctx, "sec-results").blocks if isinstance(b, Figure) and b.ref == f"cm:{DS}")
    panels = fig.job[1]["panels"]
    assert len(panels) == len(STRATEGIES)
    for panel, s in zip(panels, STRATEGIES, strict=True):
        stored = [_stored(three_seeds, c.id)["confusion_matrix"] for c in run.cells if c.cell.strategy == s]
        assert len(stored) == 3
        summed = [[sum(m[i][j] for m in stored) for j in range(2)] for i in range(2)]
        assert panel["cm"] == summed
        assert sum(map(sum, panel["cm"])) == 3 * _stored(three_seeds, run.cells[0].id)["n"]
    assert "sum" in fig.caption and "seeds" in fig.caption


def test_per_seed_appendix_rows_are_the_stored_metrics(three_seeds: Path) -> None:
    run, ctx = _ctx(three_seeds)
    table = next(b for b in _section(ctx, "sec-per-run").blocks if isinstance(b, Table) and b.ref == f"seedruns:{DS}")
    assert len(table.rows) == len(run.cells)
    for row, c in zip(table.rows, run.cells, strict=True):
        m = _stored(three_seeds, c.id)
        assert row[0].text == NAMES[c.cell.strategy]
        assert row[1].text.endswith(f"(seed {c.cell.seed})")
        assert [x.text for x in row[2:5]] == [pct(m["accuracy"]), pct(m["balanced_accuracy"]), pct(m["macro_f1"])]
        assert row[5].text in (dec(m["auc"]), "—‡")
    # The body says where the table is: a citation resolved to its number.
    body = " ".join(b.text for b in _section(ctx, "sec-results").blocks if isinstance(b, Paragraph))
    assert f"({table.label})" in body or f"（{table.label}）" in body


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_brief_leaves_the_per_seed_rows_out_and_says_where(three_seeds: Path, lang: str) -> None:
    _, ctx = _ctx(three_seeds, lang, detail="brief")
    assert not any(s.anchor == "sec-per-run" for s in ctx.sections)
    text = " ".join(b.text for b in _section(ctx, "sec-results").blocks if isinstance(b, Paragraph))
    assert "cells/*/metrics.json" in text and "--brief" in text
    assert ("9 rows" if lang == "en" else "共 9 列") in text


def test_per_run_tables_move_to_the_appendix_when_long(three_seeds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the inline limit the per-run tables (compare, pairs, cost, summary) leave the body; their refs
    still name them, so every citation of them resolves (layout raises on a dangling one)."""
    from reportgen.report.sections import percell

    monkeypatch.setattr(percell, "INLINE_ROWS", 3)
    _, ctx = _ctx(three_seeds)
    appendix = [b.ref for b in _section(ctx, "sec-per-run").blocks if isinstance(b, Table)]
    assert {f"compare:{DS}", f"pairs:{DS}", "cost", f"summary-runs:{DS}", "training-summary"} <= set(appendix)
    summary = next(b for b in _section(ctx, "sec-summary").blocks if isinstance(b, Table))
    assert summary.ref == f"summary:{DS}" and len(summary.rows) == len(STRATEGIES)
    # Findings: every run's in the appendix, one item per check and configuration in the body.
    run = load_run(three_seeds)
    found = ensure_description(run).findings
    if len(found) > 3:
        table = next(b for b in _section(ctx, "sec-per-run").blocks if isinstance(b, Table) and b.ref == "findings-runs")
        assert len(table.rows) == len(found)
        keys = {(f.id, f.severity, tuple(sorted((k, str(v)) for k, v in f.scope.items() if k not in ("seed", "cell_id"))))
                for f in found}
        body = [b for b in _section(ctx, "sec-findings").blocks if type(b).__name__ == "Findings"]
        assert len(body[0].items) == len(keys)


def test_seed_ranges() -> None:
    from reportgen.report.sections.many_findings import ranges

    assert ranges([0, 1, 2, 4, 6, 7]) == ["0–2", "4", "6–7"] and ranges([]) == []


def test_class_report_is_the_mean_over_seeds_of_the_stored_per_class_values(three_seeds: Path) -> None:
    run, ctx = _ctx(three_seeds)
    table = next(b for b in _section(ctx, "sec-results").blocks if isinstance(b, Table) and b.ref == f"report:{DS}")
    assert len(table.rows) == len(STRATEGIES) * (2 + 2)  # per strategy: two classes, macro and weighted average
    for i, s in enumerate(STRATEGIES):
        stored = [_stored(three_seeds, c.id) for c in run.cells if c.cell.strategy == s]
        group = table.rows[4 * i:4 * i + 4]
        assert group[0][0].text == NAMES[s]
        for k in range(2):
            for col, key in ((2, "precision"), (3, "recall"), (4, "f1")):
                vals = [m["per_class"][k][key] for m in stored]
                assert group[k][col].text == pct(statistics.mean(vals))
                assert group[k][col].sub == f"± {pct(statistics.stdev(vals))}"
        assert group[2][4].text == pct(statistics.mean(m["macro_f1"] for m in stored))
