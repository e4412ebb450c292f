"""Item 5 on stores written by the real runner: test loss, comparison table with kappa, 2x2 pivot,
one-vs-rest ROC, most-confused pairs, per-class Wilson CIs, and `reportgen check` over the new fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from realstore import section_builder

from reportgen.cli import cli
from reportgen.report.builder import Builder
from reportgen.report.format import count, dec, dec_ci, pct, pct_ci
from reportgen.report.model import Figure, Table
from reportgen.report.sections import comparison, results
from reportgen.store import load_run, read_json


def _build(run_dir: Path, lang: str = "en") -> Builder:
    return section_builder(run_dir, lang, results.results, comparison.comparison)


def _by_ref(b: Builder, ref: str) -> Table | Figure:
    return b.refs[ref]  # the element itself (refs are by identity; numbers come from layout)


def _texts(tab: Table) -> list[list[str]]:
    return [[c.text for c in row] for row in tab.rows]


# --------------------------------------------------------------------------- loss
def test_stored_val_loss_is_the_loops_val_loss_at_the_best_epoch(real_store: Path) -> None:
    """metrics.json val.loss comes from the stored probabilities; epochs.csv val_loss from the loop's
    F.cross_entropy on float32 logits of the same (best) weights: equal up to float32 rounding."""
    run = load_run(real_store)
    for c in run.cells:
        assert c.cell.train["label_smoothing"] == 0 and not c.cell.train["class_weighted_loss"]
        row = c.epochs[c.result.best_epoch - 1]
        assert c.metrics.val.loss == pytest.approx(row.val_loss, rel=1e-6), c.id
        # and it is what the predictions file gives, computed by hand here
        pred = c.predictions("test")
        by_hand = -np.mean(np.log(pred.probs[np.arange(len(pred.labels)), pred.labels]))
        assert c.test.loss == pytest.approx(by_hand, rel=1e-12), c.id


# --------------------------------------------------------------------------- comparison table + pivot
def test_comparison_table_shows_kappa_only_for_the_ordinal_task(store_copy: Path, multiclass_copy: Path) -> None:
    multi = _build(multiclass_copy)
    ds = multi.datasets()[0]
    tab = _by_ref(multi, f"compare:{ds}")
    assert "Quadratic weighted kappa" in tab.header and "Test loss" in tab.header
    col = tab.header.index("Quadratic weighted kappa")
    run = load_run(multiclass_copy)
    assert len(tab.rows) == len(run.cells) == 3
    for c in run.cells:
        row = next(r for r in tab.rows if r[1].text == multi.strategy_name(c.cell.strategy))
        assert row[col].text == dec(c.test.kappa_quadratic)
        assert row[col].sub == dec_ci(c.test.ci_of("kappa_quadratic"))
        assert row[tab.header.index("Test loss")].text == dec(c.test.loss)
        assert row[2].text.removesuffix(" †") == pct(c.test.accuracy)
        from reportgen.describe.facts import is_degenerate, score_spread

        auc = "—‡" if is_degenerate(*score_spread(c.predictions("test").probs)) else dec(c.test.auc)  # not credited
        assert row[3].text == pct(c.test.macro_f1) and row[4].text == auc
    assert f"pivot:{ds}:kappa_quadratic" in multi.refs

    binary = _build(store_copy)
    ds = binary.datasets()[0]
    tab = _by_ref(binary, f"compare:{ds}")
    assert not any("kappa" in h.lower() for h in tab.header)
    assert f"pivot:{ds}:kappa_quadratic" not in binary.refs
    # two seeds in the binary store: a row per backbone x strategy x seed
    assert len(tab.rows) == 6 and "Seed" in tab.header


def test_pivot_is_backbone_by_strategy_and_falls_away_for_a_single_run(store_copy: Path) -> None:
    b = _build(store_copy)
    ds = b.datasets()[0]
    tab = _by_ref(b, f"pivot:{ds}:accuracy")
    assert tab.header[1:] == [b.strategy_name(s) for s in b.strategies()]
    assert [r[0].text for r in tab.rows] == [b.bb_label(x) for x in b.backbones()]
    # One backbone and one strategy: nothing to pivot, the comparison table is what the discussion cites.
    exp = read_json(store_copy / "run.json")["experiment"]
    exp["strategies"] = ["finetune"]
    data = read_json(store_copy / "run.json")
    data["experiment"] = exp
    (store_copy / "run.json").write_text(json.dumps(data))
    one = _build(store_copy)
    assert f"pivot:{ds}:accuracy" not in one.refs
    assert one.refs[f"pivot:{ds}:macro_f1"] == one.refs[f"compare:{ds}"]


# --------------------------------------------------------------------------- multi-class only
def test_confused_pairs_table_shows_the_stored_pairs(multiclass_copy: Path, store_copy: Path) -> None:
    b = _build(multiclass_copy)
    ds, bb = b.datasets()[0], b.backbones()[0]
    tab = _by_ref(b, f"confused:{ds}:{bb}")
    run = load_run(multiclass_copy)
    shown = tab.header[1:]
    for c in run.cells:
        col = 1 + shown.index(b.strategy_name(c.cell.strategy))
        for row in tab.rows:
            true, predicted = row[0].text.split(" → ")
            cm = c.test.confusion_matrix
            i, j = c.test.class_names.index(true), c.test.class_names.index(predicted)
            assert row[col].text == count(cm[i][j]), (c.id, true, predicted)
            assert row[col].sub == pct(cm[i][j] / sum(cm[i]))
    # rows ranked by the count summed over strategies
    totals = [sum(int(x.text) for x in row[1:]) for row in tab.rows]
    assert totals == sorted(totals, reverse=True) and totals[0] > 0
    assert not any(k.startswith("confused:") for k in _build(store_copy).refs)  # binary: no such table


def test_ovr_roc_has_one_curve_per_class_plus_the_macro_average(multiclass_copy: Path) -> None:
    import matplotlib

    from reportgen.report.figures import draw_results

    b = _build(multiclass_copy)
    ds, bb = b.datasets()[0], b.backbones()[0]
    fig = _by_ref(b, f"roc:{ds}:{bb}")
    kind, job = fig.job
    from reportgen.describe.facts import is_degenerate, score_spread

    run = {c.cell.strategy: c for c in load_run(multiclass_copy).cells}
    # A cell whose scores do not vary has no ROC curve worth drawing: it is left out (marked ‡ in the tables).
    drawn = [s for s, c in run.items() if not is_degenerate(*score_spread(c.predictions("test").probs))]
    assert kind == "roc" and sorted(p["strategy"] for p in job["panels"]) == sorted(drawn) and drawn
    for panel in job["panels"]:
        c = run[panel["strategy"]]
        assert panel["ovr"] and panel["classes"] == ["normal", "bacteria", "virus"]
        assert panel["auc_texts"] == [dec(pc.auc) for pc in c.test.per_class]
        assert panel["macro_text"] == dec(c.test.auc)
        fig_, ax = matplotlib.figure.Figure(), None
        ax = fig_.subplots()
        draw_results._ovr_panel(ax, panel, {"macro": "macro"})
        labels = [line.get_label() for line in ax.get_lines()]
        assert len(labels) == 3 + 1  # every class is in the test set, plus the macro curve
        assert labels[:3] == [f"{name} {a}" for name, a in zip(panel["classes"], panel["auc_texts"], strict=True)]
    png = draw_results.roc(job["panels"], {**job["labels"]})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_class_report_shows_wilson_cis_of_the_stored_numbers(multiclass_copy: Path) -> None:
    b = _build(multiclass_copy)
    run = load_run(multiclass_copy)
    c = next(x for x in run.cells if x.cell.strategy == "frozen")
    tab = _by_ref(b, f"report:{c.cell.dataset}:frozen")
    for pc in c.test.per_class:
        row = next(r for r in tab.rows if r[1].text == pc.name)
        assert row[2].text == pct(pc.precision) and row[2].sub == pct_ci(pc.precision_ci)
        assert row[3].text == pct(pc.recall) and row[3].sub == pct_ci(pc.recall_ci)
        lo, hi = pc.recall_ci
        assert lo <= pc.recall <= hi and hi - lo > 0.1  # 18 test images per class: a wide interval


# --------------------------------------------------------------------------- reportgen check
@pytest.mark.parametrize(("path", "value"), [
    (("test", "loss"), 0.123),
    (("test", "per_class", 0, "recall_ci"), [0.0, 1.0]),
    (("val", "per_class", 1, "auc"), 0.5),
    (("test", "confused_pairs", 0, "count"), 99),
])
def test_check_agrees_on_fresh_stores_and_catches_a_tampered_new_field(multiclass_copy: Path, path, value) -> None:
    ok = CliRunner().invoke(cli, ["check", str(multiclass_copy)])
    assert ok.exit_code == 0, ok.output
    cell = next(p for p in sorted((multiclass_copy / "cells").iterdir()) if "-frozen-" in p.name)
    data = read_json(cell / "metrics.json")
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (cell / "metrics.json").write_text(json.dumps(data))
    bad = CliRunner().invoke(cli, ["check", str(multiclass_copy)])
    assert bad.exit_code == 2, bad.output
    where = f"{path[0]}.{path[1]}"
    assert cell.name in bad.output and where in bad.output and "Traceback" not in bad.output
