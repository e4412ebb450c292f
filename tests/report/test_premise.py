"""A task's premise checked against the run: every outcome worded in both languages beside its task, verified
against the stored predictions (an edited prediction that flips one makes `check` exit 2 naming it), and the
budget caveat worded from the outcome describe stamped on it.

The store is a runner-made one (``real_store``) rewritten through the store's own writers into a chosen matrix
(``build_generated`` of the generated-outcome suite), so each premise outcome has a cell pair that gives it:

============================  ==========================  =====================================
premise                       EfficientNet-Lite0          ResNet-18
============================  ==========================  =====================================
finetune > scratch            good vs inverted: holds     scratch excluded: not_applicable
scratch > finetune            contradicted                not_applicable
frozen > finetune             tie (same scores): not_shown frozen unfinished: not_run
efficientnet_lite0 > resnet18 finetune: ResNet-18 degenerate → collapsed; frozen: not_run; scratch: n/a
============================  ==========================  =====================================
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import cli

TASKS = [{"id": "E", "question": "Why does the scratch model stay behind?", "sections": ["comparison"],
          "answer": "", "expect": ["finetune > scratch", "scratch > finetune", "frozen > finetune",
                                   "efficientnet_lite0 > resnet18"]}]
EXPECTED = {  # (premise, group) → outcome
    ("finetune > scratch", "efficientnet_lite0"): "holds",
    ("finetune > scratch", "resnet18"): "not_applicable",
    ("scratch > finetune", "efficientnet_lite0"): "contradicted",
    ("scratch > finetune", "resnet18"): "not_applicable",
    ("frozen > finetune", "efficientnet_lite0"): "not_shown",
    ("frozen > finetune", "resnet18"): "not_run",
    ("efficientnet_lite0 > resnet18", "finetune"): "collapsed",
    ("efficientnet_lite0 > resnet18", "frozen"): "not_run",
    ("efficientnet_lite0 > resnet18", "scratch"): "not_applicable",
}
WORDS = {
    "en": {"holds": "The run supports this task's premise “Fine-tuning beats training from scratch”",
           "contradicted": "The run contradicts this task's premise “Training from scratch beats fine-tuning” "
                           "(EfficientNet-Lite0): fine-tuning reached the higher test macro-F1",
           "not_shown": "The run does not support this task's premise “Fixed feature extractor beats fine-tuning”",
           "collapsed": "cannot be checked: ResNet-18 collapsed",
           "not_applicable": "cannot be checked: training from scratch does not apply (excluded in the experiment",
           "not_run": "cannot be checked: fixed feature extractor did not finish in this run"},
    "zh-TW": {"holds": "本次實驗支持此題的前提「微調優於從頭訓練」",
              "contradicted": "本次實驗的結果與此題的前提「從頭訓練優於微調」相反（EfficientNet-Lite0）：微調的測試集 "
                              "macro-F1 較高",
              "not_shown": "本次實驗未能支持此題的前提「固定特徵擷取器優於微調」",
              "collapsed": "無法檢驗：ResNet-18 已經崩潰",
              "not_applicable": "無法檢驗：從頭訓練不適用（已在實驗設定檔中排除）",
              "not_run": "無法檢驗：固定特徵擷取器在本次實驗中沒有完成"},
}


def tr_heading(lang: str) -> str:
    from reportgen.i18n import t

    return t(lang, "premise.draft_heading", id="E")


def _with_tasks(store: Path, tasks: list[dict]) -> Path:
    run = json.loads((store / "run.json").read_text())
    run["experiment"]["report"]["tasks"] = tasks
    (store / "run.json").write_text(json.dumps(run))
    return store


@pytest.fixture(scope="module")
def premise_store(real_store: Path, tmp_path_factory) -> Path:
    """Never modify it; copy it. The matrix of the module docstring, described once."""
    from test_claims_generated import build_generated

    from reportgen.describe.persist import ensure_description
    from reportgen.store import load_run

    store = build_generated(real_store, tmp_path_factory.mktemp("premise") / "store",
                            backbones=["efficientnet_lite0", "resnet18"], strategies=["finetune", "frozen", "scratch"],
                            seeds=[0], k=2, ordinal=False,
                            outcomes=["good", "tie", "inverted", "degenerate", "good"], unfinished=1, skip_one=True,
                            seed=5)
    _with_tasks(store, TASKS)
    ensure_description(load_run(store))
    return store


def _premises(store: Path):
    from reportgen.describe.persist import ensure_description
    from reportgen.store import load_run

    run = load_run(store)
    d = ensure_description(run)
    return run, d, [c for c in d.claims if c.kind == "premise"]


def test_each_outcome_is_described_verified_and_worded_beside_its_task(premise_store: Path) -> None:
    from reportgen.describe.claims import verify
    from reportgen.report.context import build_context
    from reportgen.report.premise import PremiseList
    from reportgen.report.refs import unresolved

    run, d, claims = _premises(premise_store)
    assert {(c.values["expect"], c.params["group"]): c.outcome for c in claims} == EXPECTED
    assert verify(run, list(d.claims)) == []
    holds = next(c for c in claims if c.outcome == "holds")
    row = next(r for r in d.comparisons if {r.a, r.b} == set(holds.cells))
    assert row.macro_f1.p_adjusted < 0.05  # the Holm-adjusted test the sentence cites
    for lang, words in WORDS.items():
        ctx = build_context(run, d, lang)
        index = next(s for s in ctx.sections if s.anchor == "sec-task-index")
        lists = [blk for blk in index.blocks if isinstance(blk, PremiseList)]
        assert [blk.task for blk in lists] == ["E"] and len(lists[0].items) == len(EXPECTED)
        text = "\n".join(lists[0].items)
        for outcome, phrase in words.items():
            assert phrase in text, (lang, outcome, text)
        assert "(s)" not in text and ("Table" in text if lang == "en" else "表" in text)
        if lang == "zh-TW":  # the report's one spacing rule (test_zh_typography), on these sentences too
            from test_zh_typography import RULES

            bad = [(rule, x) for x in lists[0].items for rule, rx in RULES.items() if rx.search(x)]
            assert not bad, bad
        # The unanswered task's draft carries the same sentences, citations resolved.
        draft = ctx.drafts["E"]
        assert tr_heading(lang) in draft and all(x in draft for x in lists[0].sentences)
        assert not unresolved(draft) and not unresolved(text)


def test_contradicted_premise_is_a_terminal_warning(premise_store: Path) -> None:
    from reportgen.report.premise import warnings

    _, d, _ = _premises(premise_store)
    lines = warnings(list(d.claims))
    assert len(lines) == 1 and 'task E: the run contradicts its premise "scratch > finetune"' in lines[0]


def test_a_premise_edited_after_the_run_makes_the_stored_claims_stale(premise_store: Path, tmp_path: Path) -> None:
    """Premises are report-only keys, but claims are made of them: a changed premise is described again."""
    store = Path(shutil.copytree(premise_store, tmp_path / "s"))
    _with_tasks(store, [{**TASKS[0], "expect": ["frozen > scratch"]}])
    _, _, claims = _premises(store)
    assert {c.values["expect"] for c in claims} == {"frozen > scratch"}
    _with_tasks(store, [{**TASKS[0], "expect": []}])
    assert _premises(store)[2] == []


def _copy_scores(src: Path, dst: Path) -> None:
    """``dst``'s test predictions replaced by ``src``'s (the same images and labels: one column set copied)."""
    rows_src = list(csv.reader(src.open(encoding="utf-8")))
    rows_dst = list(csv.reader(dst.open(encoding="utf-8")))
    start = rows_src[0].index("prob_0")
    for a, b in zip(rows_src[1:], rows_dst[1:], strict=True):
        b[start:] = a[start:]
    with dst.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows_dst)


def test_an_edited_prediction_that_flips_a_premise_fails_check_naming_it(premise_store: Path, tmp_path: Path) -> None:
    store = Path(shutil.copytree(premise_store, tmp_path / "s"))
    _, _, claims = _premises(store)
    target = next(c for c in claims if c.outcome == "holds")
    ok = CliRunner().invoke(cli, ["check", str(store)])
    assert ok.exit_code == 0, ok.output
    # The scratch cell now scores the test images exactly as fine-tuning does: no difference, the premise fails.
    better, worse = target.cells
    _copy_scores(store / "cells" / better / "predictions_test.csv", store / "cells" / worse / "predictions_test.csv")
    bad = CliRunner().invoke(cli, ["check", str(store)])
    assert bad.exit_code == 2, bad.output
    line = next(x for x in bad.output.splitlines() if target.id in x)
    assert "(premise) says 'holds'" in line and "'not_shown'" in line, line
    rendered = CliRunner().invoke(cli, ["render", str(store), "--lang", "en", "-j", "1"])
    assert rendered.exit_code == 2, rendered.output
    assert not (store / "report.en.html").exists()


def test_budget_caveat_carries_its_pairs_outcome(premise_store: Path, tmp_path: Path) -> None:
    """describe stamps the pair's outcome on the budget claim that follows it; the discussion words the caveat
    from it: "also trained under different budgets" after no detectable difference, else "not the strategy's
    alone". The EfficientNet-Lite0 frozen and scratch cells get another learning rate (cell.json, through the
    store's writer): fine-tuning vs frozen (same scores) differs in budget with no difference, fine-tuning vs
    scratch with one."""
    import dataclasses

    from reportgen.describe.persist import ensure_description
    from reportgen.report.builder import Builder
    from reportgen.report.discussion import discussion_paragraphs
    from reportgen.store import load_run, read_record, write_record
    from reportgen.store.schema import CellRecord

    store = Path(shutil.copytree(premise_store, tmp_path / "s"))
    for cell in store.glob("cells/*-efficientnet_lite0-*"):
        rec = read_record(CellRecord, cell / "cell.json")
        if rec.strategy in ("frozen", "scratch"):
            write_record(cell / "cell.json", rec.model_copy(update={"train": dataclasses.replace(rec.train, lr=0.003)}))
    run = load_run(store)
    description = ensure_description(run)
    claims = list(description.claims)
    budgets = [(claims[i - 1], c) for i, c in enumerate(claims) if c.kind == "budget"]
    assert sorted(pair.outcome for pair, _ in budgets) == ["better", "no_difference"]
    for pair, budget in budgets:
        assert pair.kind == "pair" and pair.cells == budget.cells
        assert budget.params["after"] == pair.outcome
    text = " ".join(discussion_paragraphs(Builder(run, description, "en")))
    assert text.count("also trained under different budgets (learning rate 0.001 vs 0.003)") == 1, text
    assert text.count("trained under different budgets (learning rate 0.001 vs 0.003), so this difference is not "
                      "the strategy's alone") == 1, text
