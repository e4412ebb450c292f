"""The "Why the models err" section in the rendered real store: gallery and Grad-CAM grid, HTML and PDF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reportgen import store
from reportgen.store import schema


def _section(html: str, title: str) -> str:
    start = html.index(title, html.index("</nav>") if "</nav>" in html else 0)
    return html[start:]


def test_section_has_gallery_and_grad_cam_grid_in_both_languages(rendered) -> None:
    en, zh = rendered["en"], rendered["zh"]
    sec = _section(en, "Why the models err")
    assert "The most confident test mistakes of EfficientNet-Lite0" in sec
    assert "Grad-CAM of EfficientNet-Lite0" in sec and "extract_features()" in sec
    # 32 px: EfficientNet-Lite0's last map is 1×1, and the report says what that means.
    assert "1×1" in sec and "cannot localize" in sec
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', sec)) >= 2
    zsec = _section(zh, "模型為何出錯")
    assert "最有把握的測試錯誤" in zsec and "Grad-CAM" in zsec


def test_gallery_shows_the_stored_call_and_confidence(rendered) -> None:
    from reportgen.report.format import dec
    from reportgen.store import load_run

    run = load_run(rendered["run"])
    cell = next(c for c in run.cells if c.cell.seed == 0 and c.cell.strategy == "frozen")
    rec = cell.explain  # read once by the store's loader
    assert rec is not None and rec.mistakes
    # The figure job carries the text drawn on each panel: the stored confidence, formatted once.
    from reportgen.describe.persist import ensure_description
    from reportgen.report.context import build_context

    ctx = build_context(run, ensure_description(run), "en")
    jobs = [f.job for f in ctx.figures if f.job[0] == "mistakes"]
    titles = [p["title"] for row in jobs[0][1]["rows"] for p in row["panels"]]
    m = rec.mistakes[0]
    assert f"{cell.cell.classes[m.true]} → {cell.cell.classes[m.predicted]}\n{dec(m.confidence)}" in titles


@pytest.mark.pdf
def test_pdf_shows_the_section_gallery_and_grid(store_copy: Path) -> None:
    import pypdf

    from reportgen.report import render_report

    written = render_report(store_copy, lang="both", pdf=True)
    en = "".join(p.extract_text() for p in pypdf.PdfReader(written["pdf:en"]).pages)
    zh = "".join(p.extract_text() for p in pypdf.PdfReader(written["pdf:zh-TW"]).pages)
    flat = re.sub(r"\s+", " ", en)
    assert "Why the models err" in flat and "most confident test mistakes" in flat and "Grad-CAM of" in flat
    assert "模型為何出錯" in zh
    rec = store.read_record(schema.ExplainRecord, next((store_copy / "cells").glob("*/explain.json")))
    assert rec.cam_status == "done"
