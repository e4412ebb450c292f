"""The CLAIM 2024 / TRIPOD+AI appendix on real stores: filled items link to the element that answers them.

The session's real store (EfficientNet-Lite0, 3 strategies × 2 seeds on real PneumoniaMNIST images) is rendered
once in both languages (``rendered``); a store is changed in memory only to show that a fact the store lacks
turns an item back to open.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from markupsafe import escape

from reportgen.cli import cli
from reportgen.describe.persist import ensure_description
from reportgen.i18n import t
from reportgen.published import checklist_items
from reportgen.report.context import build_context
from reportgen.store import load_run

# What a run can answer (issue 20: data sources, preprocessing, partitions and sizes, model, initialisation,
# training, selection, metrics with CIs and tests, class balance, failure analysis, software versions).
RUN_ANSWERABLE = ("claim_7", "claim_9", "claim_19", "claim_22", "claim_23", "claim_24", "claim_25", "claim_26",
                  "claim_28", "claim_29", "claim_32", "claim_35", "claim_37", "claim_38", "claim_39")
ITEMS = {i["id"]: i for i in checklist_items()}


def _rows(page: str, ref: str) -> list[str]:
    table = re.search(rf'<figure class="table" id="tab-\d+" data-ref="{ref}">(.*?)</figure>', page, re.S)
    assert table, f"no table {ref}"
    return re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]  # without the header row


def _cells(row: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)


def _target(page: str, anchor: str) -> str:
    """The data-ref of the table/figure with this id, or "section:<key>" for a section anchor."""
    m = re.search(rf'<figure[^>]* id="{anchor}"(?: data-ref="([^"]*)")?', page)
    if m:
        return m.group(1) or ""
    assert re.search(rf'<section[^>]* id="{anchor}"', page) or f'id="{anchor}"' in page, anchor
    return "section:" + anchor.removeprefix("sec-")


@pytest.mark.parametrize("lang", ["zh-TW", "en"])
def test_every_run_answerable_claim_item_is_filled_and_links_to_the_element_that_answers_it(rendered, lang) -> None:
    page = rendered["zh" if lang == "zh-TW" else "en"]
    rows = _rows(page, "checklist:claim")
    assert len(rows) == 44
    filled = str(escape(t(lang, "checklist.status.run")))
    for item_id in RUN_ANSWERABLE:
        n = int(item_id.removeprefix("claim_"))
        cells = _cells(rows[n - 1])
        assert cells[0].strip() == f"CLAIM {n}"
        assert cells[1].strip() == str(escape(t(lang, f"checklist.item.{item_id}")))
        assert cells[2].strip() == filled, (item_id, cells[2])
        hrefs = re.findall(r'href="#([^"]+)"', cells[3])
        assert hrefs, f"{item_id} is filled but links nowhere"
        wanted = [p for entry in ITEMS[item_id]["run"] for p in entry["refs"]]
        wanted_sections = [f"section:{s}" for entry in ITEMS[item_id]["run"] for s in entry["sections"]]
        for anchor in hrefs:
            ref = _target(page, anchor)
            assert ref in wanted_sections or any(fnmatch.fnmatchcase(ref, p) for p in wanted), (item_id, anchor, ref)


def test_items_only_the_author_can_answer_are_open_and_listed(rendered) -> None:
    en = rendered["en"]
    rows = _rows(en, "checklist:claim")
    for n in (1, 5, 13, 36, 44):  # title, study design, acquisition, demographics, funding
        assert _cells(rows[n - 1])[2].strip() == str(escape(t("en", "checklist.status.open")))
    section = en[en.index('id="sec-checklist"'):en.index('data-ref="checklist:claim"')]
    box = re.search(r'<aside class="unanswered">(.*?)</aside>', section, re.S)
    assert box and "CLAIM 5: " in box.group(1) and "CLAIM 7: " not in box.group(1) and "claim_" not in box.group(1)
    # Ensembling is not applicable, with the reason, in both languages.
    assert t("en", "checklist.na.no_ensemble") in _cells(rows[26])[3]
    assert t("zh-TW", "checklist.na.no_ensemble") in _cells(_rows(rendered["zh"], "checklist:claim")[26])[3]


def _checklist_status(ctx) -> dict[str, str]:
    table = next(b for s in ctx.sections for b in s.blocks if getattr(b, "ref", "") == "checklist:claim")
    return {f"claim_{i + 1}": row[2].text for i, row in enumerate(table.rows)}


@pytest.fixture
def analysed(store_copy):
    run = load_run(store_copy)
    return run, ensure_description(run)


def test_a_fact_the_store_lacks_turns_its_item_back_to_open(analysed) -> None:
    run, analysis = analysed
    before = _checklist_status(build_context(run, analysis, "en"))
    assert before["claim_37"] == before["claim_10"] == t("en", "checklist.status.run")
    for c in run.cells:  # no CIs stored; every training image used (no subset)
        c.metrics = c.metrics.model_copy(update={"test": c.test.model_copy(update={"ci": {}})})
        c.data = c.data.model_copy(update={"train_subsampled": None})
    for name, facts in run.datasets.items():
        run.datasets[name] = facts.model_copy(update={"train_subsampled": None})
    after = _checklist_status(build_context(run, analysis, "en"))
    assert after["claim_37"] == t("en", "checklist.status.open")
    assert after["claim_10"] == t("en", "checklist.status.na")
    # Item 29 still holds through the paired tests, which the store does have.
    assert after["claim_29"] == t("en", "checklist.status.run")


def test_a_fact_whose_element_the_report_lacks_is_not_filled(analysed, monkeypatch) -> None:
    from reportgen.report.sections import errors, results

    run, analysis = analysed
    links = _checklist_links(build_context(run, analysis, "en"))
    assert any(ref.startswith("mistakes-") for ref in links["claim_39"])
    monkeypatch.setattr(errors, "errors", lambda b: None)  # no "why the models err" section
    monkeypatch.setattr(results, "results", lambda b: None)  # no metrics tables
    ctx = build_context(run, analysis, "en")
    links, status = _checklist_links(ctx), _checklist_status(ctx)
    # The store still holds metrics, confusion matrices and mistakes; the report shows none of them.
    assert links["claim_39"] == [] and links["claim_28"] == []
    assert status["claim_28"] == status["claim_32"] == status["claim_39"] == t("en", "checklist.status.open")


def _checklist_links(ctx) -> dict[str, list[str]]:
    """claim id → data-refs of the elements its row links to."""
    by_anchor = {b.anchor: b.ref for s in ctx.sections for b in s.blocks if getattr(b, "ref", "")}
    table = next(b for s in ctx.sections for b in s.blocks if getattr(b, "ref", "") == "checklist:claim")
    return {f"claim_{i + 1}": [by_anchor.get(h.lstrip("#"), h) for h, _ in row[3].links]
            for i, row in enumerate(table.rows)}


CHECKLIST = """
[report.checklist]
claim_5 = { "zh-TW" = "回溯性研究，使用公開資料集。", en = "Retrospective, on a public data set." }
claim_44 = "None."
"""


def _rerun(store: Path, root: Path, extra: str) -> tuple[int, str]:
    """Re-run the store's own experiment with ``extra`` appended (every cell is finished: nothing retrains)."""
    text = (store / "experiment.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^\s*output_dir = .*$', f'output_dir = "{root}"', text)
    text = re.sub(r'(?m)^\s*name = "real"$', f'name = "{store.name}"', text, count=1)
    toml = root / "lab.toml"
    toml.write_text(text + extra, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    return result.exit_code, result.output


def test_author_answers_come_from_the_toml_in_each_language(store_copy, caplog) -> None:
    from reportgen.report import render_report

    code, out = _rerun(store_copy, store_copy.parent, CHECKLIST)
    assert code == 0, out
    with caplog.at_level(logging.WARNING):
        written = render_report(store_copy, lang="both")
    zh, en = (written[k].read_text(encoding="utf-8") for k in ("html:zh-TW", "html:en"))
    for page, lang, answer in ((zh, "zh-TW", "回溯性研究，使用公開資料集。"), (en, "en", "Retrospective, on a public data set.")):
        cells = _cells(_rows(page, "checklist:claim")[4])
        assert cells[2].strip() == str(escape(t(lang, "checklist.status.author")))
        assert answer in cells[3]
        assert "None." in _cells(_rows(page, "checklist:claim")[43])[3]
    warned = next(r.getMessage() for r in caplog.records if "reporting-checklist" in r.getMessage())
    assert "claim_1," in warned and "claim_5" not in warned.split("(")[0] and "claim_44" not in warned


@pytest.mark.parametrize(("key", "hint"), [("claim_55", 'did you mean "claim_5"'),
                                           ("tripod_fairnes", 'did you mean "tripod_fairness"')])
def test_a_misspelt_checklist_key_is_one_error_naming_it(tmp_path, key, hint) -> None:
    from tinyexp import tiny_experiment

    toml = tiny_experiment(tmp_path, file="x.toml", name="x", strategies=None, report={"checklist": {key: "text"}},
                           dataset={"name": "pneumoniamnist", "classes": None, "max_train_samples": None},
                           backbone={"input_size": None}, train_base={})
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 2, result.output
    assert f"report.checklist.{key}" in result.output and hint in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.pdf
@pytest.mark.slow
def test_the_checklist_appendix_is_in_the_pdf(store_copy) -> None:
    import pypdf

    from reportgen.report import render_report

    written = render_report(store_copy, lang="en", pdf=True)
    text = "".join(p.extract_text() or "" for p in pypdf.PdfReader(written["pdf:en"]).pages)
    assert "Appendix: reporting checklists" in text and "CLAIM 2024" in text
