"""Findings, captions and task statuses are claims, checked like the prose: edit one stored file so a condition
flips, and `check` / `render` (or verify, for a condition read from a record the description is recomputed from)
name the claim. Stores are written by the real runner (``real_store``) and rewritten through the store's own
writers and scorer (``build_generated``) where an outcome needs generated predictions.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.describe.claims import Claim


def _claims(store: Path) -> list[Claim]:
    return [Claim.from_json(d) for d in json.loads((store / "analysis" / "claims.json").read_text())["claims"]]


def _rewrite_probs(path: Path, rows_to_edit: int | None, favour: int) -> None:
    """Give ``rows_to_edit`` rows (None: every row) of a predictions file scores that favour class ``favour``."""
    rows = list(csv.reader(path.open(encoding="utf-8")))
    header = rows[0]
    start = header.index("prob_0")
    k = len(header) - start
    for row in rows[1:][: rows_to_edit]:
        row[start:] = [repr(0.9 if j == favour else 0.1 / (k - 1)) for j in range(k)]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def _generated(real_store: Path, dest: Path, outcomes: list[str]) -> Path:
    from test_claims_generated import build_generated

    return build_generated(real_store, dest, backbones=["efficientnet_lite0"], strategies=["finetune", "scratch"],
                           seeds=[0], k=2, ordinal=False, outcomes=outcomes, unfinished=0, skip_one=False, seed=5)


def test_an_untouched_store_verifies_every_new_kind(real_store: Path, tmp_path: Path) -> None:
    from reportgen.describe.claims_shown import task_claims
    from reportgen.store import load_run

    store = _generated(real_store, tmp_path / "store", ["good", "flat_one_class"])
    ok = CliRunner().invoke(cli, ["check", str(store)])
    assert ok.exit_code == 0, ok.output
    claims = _claims(store)
    kinds = {c.kind for c in claims}
    assert {"finding", "cell_findings", "caption"} <= kinds, kinds
    n = len(claims) + len(task_claims(load_run(store)))
    assert f"{n} claims verified" in ok.output
    # The collapsed cell's finding is a claim whose outcome is the check and its severity.
    collapsed = [c for c in claims if c.kind == "finding" and c.params["check"] == "collapsed"]
    assert collapsed and collapsed[0].outcome.startswith("collapsed:high")


def test_a_finding_the_predictions_no_longer_support_fails_check_and_render(real_store: Path, tmp_path: Path) -> None:
    store = _generated(real_store, tmp_path / "store", ["good", "flat_one_class"])
    assert CliRunner().invoke(cli, ["check", str(store)]).exit_code == 0
    target = next(c for c in _claims(store) if c.kind == "finding" and c.params["check"] == "collapsed")
    # One test image now scored for the other class: the cell no longer answers one class everywhere.
    _rewrite_probs(store / "cells" / target.cells[0] / "predictions_test.csv", 1, favour=0)
    bad = CliRunner().invoke(cli, ["check", str(store)])
    assert bad.exit_code == 2, bad.output
    assert target.id in bad.output and "'absent'" in bad.output
    assert f"cell_findings:{target.cells[0]}" in bad.output
    rendered = CliRunner().invoke(cli, ["render", str(store), "--lang", "en", "-j", "1"])
    assert rendered.exit_code == 2 and target.id in rendered.output, rendered.output
    assert not (store / "report.en.html").exists()


def test_a_finding_the_predictions_now_raise_but_the_store_lacks_fails(real_store: Path, tmp_path: Path) -> None:
    store = _generated(real_store, tmp_path / "store", ["good", "good"])
    assert CliRunner().invoke(cli, ["check", str(store)]).exit_code == 0
    cell = sorted(p.name for p in (store / "cells").iterdir())[0]
    cf = next(c for c in _claims(store) if c.id == f"cell_findings:{cell}")
    assert "collapsed" not in cf.outcome
    _rewrite_probs(store / "cells" / cell / "predictions_test.csv", None, favour=1)  # one class for every image
    bad = CliRunner().invoke(cli, ["check", str(store)])
    assert bad.exit_code == 2, bad.output
    assert cf.id in bad.output and "collapsed" in bad.output.split(cf.id, 1)[1].splitlines()[0]


def test_the_degenerate_mark_is_a_caption_claim(real_store: Path, tmp_path: Path) -> None:
    from reportgen.describe.persist import ensure_description
    from reportgen.report.context import build_context
    from reportgen.report.model import Paragraph
    from reportgen.store import load_run

    store = _generated(real_store, tmp_path / "store", ["good", "degenerate"])
    run = load_run(store)
    d = ensure_description(run)
    mark = [c for c in _claims(store) if c.kind == "caption" and c.params["what"] == "degenerate"]
    flagged = [c for c in mark if c.outcome == "degenerate"]
    assert len(mark) == 2 and len(flagged) == 1
    ctx = build_context(run, d, "en")
    text = [blk.text for s in ctx.sections for blk in s.blocks if isinstance(blk, Paragraph)]
    assert any(p.startswith("‡") for p in text)
    _rewrite_probs(store / "cells" / flagged[0].cells[0] / "predictions_test.csv", 1, favour=0)
    bad = CliRunner().invoke(cli, ["check", str(store)])
    assert bad.exit_code == 2 and flagged[0].id in bad.output, bad.output


def test_warmup_shading_follows_the_epoch_log_and_a_stale_caption_claim_fails(store_copy: Path) -> None:
    from reportgen.describe.claims import verify
    from reportgen.describe.persist import ensure_description
    from reportgen.report.context import build_context
    from reportgen.store import load_run

    run = load_run(store_copy)
    before = ensure_description(run)
    cid = run.cells[0].id
    claim = next(c for c in before.claims if c.id == f"caption:warmup:{cid}")
    assert claim.outcome == "none"  # no cell of the real store has a warm-up
    captions = [f.caption for f in build_context(run, before, "en").figures]
    assert not any("warm-up" in c for c in captions)
    # The epoch log now says epoch 1 trained the head alone: the shading is drawn and explained.
    log = run.cells[0].path / "epochs.csv"
    rows = list(csv.reader(log.open(encoding="utf-8")))
    rows[1][rows[0].index("stage")] = "frozen"
    for row in rows[2:]:
        row[rows[0].index("stage")] = "finetune"
    with log.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    edited = load_run(store_copy)
    failures = verify(edited, list(before.claims))  # the claims described before the edit
    assert [f.claim.id for f in failures if f.claim.kind == "caption"] == [claim.id]
    after = ensure_description(edited)  # the epoch log is an input: described again, shaded
    assert next(c for c in after.claims if c.id == claim.id).outcome == "shaded"
    ctx = build_context(edited, after, "en")
    shaded = [f for f in ctx.figures if cid in f.source and f.job[0] in ("curves", "lr")]
    assert shaded and all("warm-up" in f.caption for f in shaded)
    assert all(any(s.get("boundary") for s in f.job[1]["series"]) for f in shaded)


def test_the_cost_axis_scale_and_its_caption_read_one_claim(store_copy: Path) -> None:
    from reportgen.describe.claims_shown import final_trainable, log_scale
    from reportgen.describe.persist import ensure_description
    from reportgen.report.context import build_context
    from reportgen.store import load_run

    assert log_scale([1e3, 1e4]) and not log_scale([1e3, 9e3]) and not log_scale([0, 1e6]) and not log_scale([])
    run = load_run(store_copy)
    d = ensure_description(run)
    outcome = next(c.outcome for c in d.claims if c.id == "caption:cost_scale")
    assert outcome == ("log" if log_scale(final_trainable(c) for c in run.cells) else "linear")
    for lang, word in (("en", "(log scale)"), ("zh-TW", "對數尺度")):
        fig = next(f for f in build_context(run, d, lang).figures if f.job[0] == "cost")
        assert fig.job[1]["log_trainable"] == (outcome == "log") == (word in fig.caption)


def test_a_blank_answer_is_open_and_a_claim_saying_otherwise_fails(store_copy: Path) -> None:
    from reportgen.describe.claims import verify
    from reportgen.describe.claims_shown import task_claims
    from reportgen.describe.persist import ensure_description
    from reportgen.report.context import build_context
    from reportgen.store import load_run

    run = load_run(store_copy)
    d = ensure_description(run)
    exp = run.run.experiment.to_dict()
    exp["report"]["tasks"] = [{"id": "A", "question": "Why?", "sections": ["discussion"], "answer": "  \n "},
                              {"id": "B", "question": "How?", "sections": ["discussion"], "answer": "Like this."}]
    run.run = run.run.model_copy(update={"experiment": type(run.run.experiment).model_validate(exp)})
    claims = {c.id: c for c in task_claims(run)}
    assert claims["task:A:en"].outcome == claims["task:A:zh-TW"].outcome == "open"
    assert claims["task:B:en"].outcome == "answered"
    ctx = build_context(run, d, "en")
    assert ctx.unanswered == ["A"]
    wrong = Claim(**{**claims["task:A:en"].__dict__, "outcome": "answered"})
    failures = verify(run, [wrong, claims["task:B:en"]])
    assert [f.claim.id for f in failures] == ["task:A:en"] and failures[0].fresh == "open"


def test_a_cell_moved_below_the_majority_rate_raises_a_finding_the_store_lacks(real_store: Path,
                                                                              tmp_path: Path) -> None:
    """Accuracy moved from well above to below always answering the majority class (both classes still answered):
    the fresh checks raise below_majority_baseline, which the store's cell_findings claim does not list."""
    store = _generated(real_store, tmp_path / "store", ["good", "good"])
    assert CliRunner().invoke(cli, ["check", str(store)]).exit_code == 0
    cell = sorted(p.name for p in (store / "cells").iterdir())[0]
    path = store / "cells" / cell / "predictions_test.csv"
    rows = list(csv.reader(path.open(encoding="utf-8")))
    header, body = rows[0], rows[1:]
    label, p0 = header.index("label"), header.index("prob_0")
    right = len(body) // 3  # a third right, the rest wrong: below any majority rate of a binary test split
    for i, row in enumerate(body):
        called = int(row[label]) if i < right else 1 - int(row[label])
        row[p0:] = [repr(0.9 if j == called else 0.1) for j in range(2)]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    bad = CliRunner().invoke(cli, ["check", str(store)])
    assert bad.exit_code == 2, bad.output
    line = next(x for x in bad.output.splitlines() if f"cell_findings:{cell}" in x)
    assert "below_majority_baseline" in line


def test_a_whitespace_answer_renders_as_open_with_no_answers_section(real_store: Path, tmp_path: Path,
                                                                      caplog) -> None:
    """End to end through the TOML: a loose task whose answer is only whitespace is open in the index, listed on the
    terminal, and makes no "Task answers" section holding an empty answer; check counts its status claims."""
    import logging
    import shutil

    from test_tasks_report import with_tasks

    from reportgen.report import render_report

    extra = "\n".join(f'[[report.tasks]]\nid = "{tid}"\nquestion = "Q{tid}?"\nanswer = "{ans}"\n'
                      for tid, ans in (("A", "   "), ("B", " yes "), ("C", ""), ("D", "\\n\\t")))
    store = with_tasks(Path(shutil.copytree(real_store, tmp_path / "t")), tmp_path, extra=extra)
    with caplog.at_level(logging.WARNING, logger="reportgen.report.render"):
        written = render_report(store, lang="en", jobs=1)
    html = written["html:en"].read_text(encoding="utf-8")
    assert 'id="sec-task-answers"' in html and 'id="task-answer-B"' in html and 'id="task-answer-A"' not in html
    lines = [r.getMessage() for r in caplog.records if "has no answer" in r.getMessage()]
    assert [line.split(" has no answer")[0] for line in lines] == ["task A", "task C", "task D"]
    ok = CliRunner().invoke(cli, ["check", str(store)])
    assert ok.exit_code == 0 and f"{len(_claims(store)) + 8} claims verified" in ok.output, ok.output
