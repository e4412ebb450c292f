"""Layout a grader does not notice, checked on what was drawn: the PDF of a real-runner store and the
figures' own text extents.

- no table header breaks inside a word (CJK breaks between any two characters: "參數 / 量");
- no "資料來源" / "Source" line is left alone at the top of a page, and no caption ends a page above its table;
- the titles of the mistakes gallery never overlap ("PNEUMONIA → NORMALPNEUMONIA → NORMAL");
- a log-scale learning-rate axis shows several rates, not "0.001" alone;
- the HTML does not open with a screen-high blank cover.
"""

from __future__ import annotations

import math
import re
import shutil
from itertools import combinations
from pathlib import Path

import pytest
from realstore import section_builder
from tabletext import html_captions, html_tables

from reportgen.report import render_report
from reportgen.report.sections import errors


def _lines(page) -> list[str]:
    return [line.strip() for line in (page.extract_text() or "").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def zh_pdf(rendered, tmp_path_factory) -> dict:
    """The rendered store's zh-TW report as PDF (figures come from the rendered copy's cache)."""
    from pypdf import PdfReader

    run = Path(shutil.copytree(rendered["run"], tmp_path_factory.mktemp("layout") / "store"))
    written = render_report(run, lang="zh-TW", pdf=True)
    reader = PdfReader(str(written["pdf:zh-TW"]))
    return {"pages": [_lines(p) for p in reader.pages], "html": written["html:zh-TW"].read_text(encoding="utf-8")}


@pytest.mark.pdf
def test_no_table_header_breaks_inside_a_word(zh_pdf) -> None:
    pages = zh_pdf["pages"]
    tables = html_tables(zh_pdf["html"])
    captions = html_captions(zh_pdf["html"])
    checked = 0
    for n, (ref, table) in enumerate(tables.items(), start=1):
        label = f"表 {n} "
        assert captions[ref].startswith(label)
        start = captions[ref][len(label):].replace(" ", "")[:6]  # the caption's first words, not a citation

        def is_caption(line: str, label=label, start=start) -> bool:
            return line.startswith(label) and start in line.replace(" ", "")

        at = next((i for i, lines in enumerate(pages) if any(is_caption(line) for line in lines)), None)
        assert at is not None, label
        # The header is on the caption's page (the caption never ends a page above its table) ...
        text = [line.replace(" ", "") for line in pages[at]]
        caption_line = next(i for i, line in enumerate(pages[at]) if is_caption(line))
        for header in table["header"][0]:
            for word in header.split():
                # ... and every word of it sits on one line of the page, after the caption.
                assert any(word.replace(" ", "") in line for line in text[caption_line:]), (label, header, word)
                checked += 1
    assert checked > 50


@pytest.mark.pdf
def test_no_source_line_starts_a_page(zh_pdf) -> None:
    for number, lines in enumerate(zh_pdf["pages"][1:], start=2):
        body = [line for line in lines if not re.fullmatch(r"頁 \d+ / \d+", line)]
        assert body, number
        assert not body[0].startswith("資料來源"), f"page {number} opens with a stranded source line: {body[0]}"
        assert not re.match(r"(表|圖) \d+ ", body[-1]), f"page {number} ends with a caption: {body[-1]}"


def _overlaps(boxes) -> list[tuple]:
    return [(a, b) for (a, ba), (b, bb) in combinations(boxes, 2)
            if ba.x0 < bb.x1 - 0.5 and bb.x0 < ba.x1 - 0.5 and ba.y0 < bb.y1 - 0.5 and bb.y0 < ba.y1 - 0.5]


def _text_boxes(fig) -> list[tuple]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts) + [ax.title for ax in fig.axes]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text().strip() and t.get_visible()]


@pytest.mark.parametrize("names", [None, ("PNEUMONIA", "NORMAL"), ("細菌性肺炎", "正常")])
def test_mistakes_gallery_titles_never_overlap(store_copy: Path, names) -> None:
    """The gallery job of a real store, drawn; with long class names in the titles too (the reported case)."""
    from reportgen.report.figures import setup_fonts
    from reportgen.report.figures.draw_explain import grid_figure
    from reportgen.report.fonts import find_cjk_font

    setup_fonts(find_cjk_font().path)  # the report's CJK font, as the figure workers draw with
    b = section_builder(store_copy, "en", errors.errors)
    jobs = [blk.job for s in b.sections for blk in s.blocks if getattr(blk, "ref", "").startswith("mistakes-")]
    assert jobs
    kind, args = jobs[0]
    rows = args["rows"]
    assert any(row["panels"] for row in rows)
    if names:
        for row in rows:
            for panel in row["panels"]:
                conf = panel["title"].split("\n")[-1]
                panel["title"] = f"{names[0]} → {names[1]}\n{conf}"
    fig = grid_figure(rows, ncols=max(args["ncols"], 4), label_in=1.1)
    boxes = _text_boxes(fig)
    assert len(boxes) >= 4
    assert not _overlaps(boxes), _overlaps(boxes)[:3]
    width = fig.get_figwidth() * fig.dpi
    assert all(0 <= box.x0 and box.x1 <= width for _, box in boxes)


def test_log_lr_axis_labels_several_rates() -> None:
    from reportgen.report.figures.draw_training import lr_figure

    epochs = list(range(1, 21))
    lrs = [1e-3 * 0.5 * (1 + math.cos(math.pi * (e - 1) / 20)) + 2e-5 for e in epochs]  # cosine to 2e-5
    fig = lr_figure([{"epoch": epochs, "lr": lrs, "strategy": "finetune", "label": "Fine-tuning", "boundary": None}],
                    {"epoch": "Epoch", "lr": "Learning rate", "boundary": "warm-up"})
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi and t.get_text()]
    assert len(shown) >= 4 and "0.001" in shown, shown
    assert all(float(s) > 0 for s in shown)  # plain numbers, no mathtext


def test_html_cover_has_no_screen_high_blank(rendered) -> None:
    css = re.search(r"<style>(.*?)</style>", rendered["en"], re.S).group(1)
    screen = re.sub(r"@media print\s*\{.*?\}\s*\}", "", css, flags=re.S)
    cover = re.search(r"\.cover\s*\{([^}]*)\}", screen).group(1)
    assert "vh" not in cover and "padding-top: 0.5em" in cover
    # Every header word is one no-wrap span: a CJK header wraps between its words only.
    assert all(t["header"] for t in html_tables(rendered["zh"]).values())
    assert '<th><span class="w">' in rendered["zh"] or '<th class="num"><span class="w">' in rendered["zh"]
