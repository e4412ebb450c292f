"""What applies, and the summary table, on a runner-made store with an MLP that has ``weights = "none"``.

Fine-tuning and the fixed feature extractor do not apply to the MLP: the planner left them out with a reason.
The report lists them once, with the reason, in the introduction; no table has a row for them; a planned run
without a result is marked "failed" or "not run" (never "not applicable"); the summary table shows every
run's ImageNet acc@1, parameters, MACs and test scores exactly as stored.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from refcheck import table_rows, visible

from reportgen.i18n import t
from reportgen.report import render_report
from reportgen.report.format import NA, dec, macs, params, pct
from reportgen.store import load_run

LANGS = ("en", "zh-TW")
DS = "pneumoniamnist"


@pytest.mark.parametrize("lang", LANGS)
def test_inapplicable_combinations_are_listed_once_with_the_reason_and_nowhere_else(mixed_pdf: dict,
                                                                                      lang: str) -> None:
    html = mixed_pdf[lang]["html"]
    text = visible(html)
    intro = t(lang, "applicability.intro")
    reason = t(lang, "applicability.reason.no_weights", backbone="MLP")
    assert text.count(intro) == 1 and text.count(reason) == 1
    at = html.index(intro.split("(")[0].split("（")[0])  # where the plan is described: the introduction
    assert html.index('id="sec-introduction"') < at < html.index('id="sec-model_selection"')
    assert t(lang, "applicability.not_run") not in text and t(lang, "report.ui.not_run") not in text
    for strategy in ("finetune", "frozen"):  # no MLP row in its results table, nor in the comparison table
        assert all(not row[0].startswith("MLP") for row in table_rows(html, f"metrics:{DS}:{strategy}"))
    name = {s: t(lang, f"report.strategy.{s}.name") for s in ("finetune", "frozen", "scratch")}
    compared = [(row[0], row[1]) for row in table_rows(html, f"compare:{DS}")]
    assert ("MLP", name["scratch"]) in compared
    assert ("MLP", name["finetune"]) not in compared and ("MLP", name["frozen"]) not in compared
    pivot = {row[0]: row[1:] for row in table_rows(html, f"pivot:{DS}:macro_f1")}
    assert pivot["MLP"][:2] == [t(lang, "applicability.not_applicable")] * 2  # the grid's cells say what they are


@pytest.mark.parametrize("lang", LANGS)
def test_summary_table_shows_every_run_as_stored(mixed_store: Path, mixed_pdf: dict, lang: str) -> None:
    run = load_run(mixed_store)
    rows = table_rows(mixed_pdf[lang]["html"], f"summary:{DS}")
    assert len(rows) == len(run.cells) == 4
    by_key = {(row[0], row[1]): row[2:] for row in rows}
    for c in run.cells:
        label = "MLP" if c.cell.backbone == "mlp" else "EfficientNet-Lite0"
        got = by_key[(label, t(lang, f"report.strategy.{c.cell.strategy}.name"))]
        inet = c.arch.imagenet
        acc1 = t(lang, "applicability.no_weights") if inet is None else (
            NA if inet.get("acc1") is None else f"{inet['acc1']:.1f}")
        assert got[0] == acc1
        assert got[1:4] == [params(c.arch.params_total), params(c.arch.params_trainable), macs(c.arch.macs)]
        assert got[4].removesuffix(" †") == pct(c.test.accuracy)
        assert got[5:] == [pct(c.test.macro_f1), dec(c.test.auc)]
    frozen = by_key[("EfficientNet-Lite0", t(lang, "report.strategy.frozen.name"))]
    assert frozen[2] != frozen[1]  # trainable < total for the fixed feature extractor


def test_failed_and_unfinished_runs_are_marked_as_such(mixed_store: Path, tmp_path: Path) -> None:
    """One planned run failed (failed.json), one never finished: each is marked with its own state."""
    run_dir = Path(shutil.copytree(mixed_store, tmp_path / "store"))
    cells = {p.name: p for p in (run_dir / "cells").iterdir()}
    failed = next(c for c in cells if "-frozen-" in c)
    unfinished = next(c for c in cells if "-finetune-" in c)
    for cid in (failed, unfinished):
        (cells[cid] / "result.json").unlink()
    (cells[failed] / "failed.json").write_text(json.dumps({"error": "CUDA out of memory", "host": "x"}))
    html = render_report(run_dir, lang="en")["html:en"].read_text(encoding="utf-8")
    state = {row[1]: row[2] for row in table_rows(html, f"summary:{DS}") if row[0] == "EfficientNet-Lite0"}
    assert state == {"Fine-tuning": "not run", "Fixed feature extractor": "failed",
                     "Training from scratch": state["Training from scratch"]}
    assert state["Training from scratch"] not in ("not run", "failed")
    status = {row[0]: row[1] for row in table_rows(html, "cells")}
    assert (status[failed], status[unfinished]) == ("failed", "not run")
    assert "not applicable" not in " ".join(" ".join(r) for r in table_rows(html, "cells"))
