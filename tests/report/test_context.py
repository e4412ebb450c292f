"""Number formatting, safe Markdown, and document numbering of the view models."""

from __future__ import annotations

import re

import pytest

from reportgen.report import builder, context
from reportgen.report import format as c
from reportgen.report.model import Figure, Paragraph, Table


@pytest.mark.parametrize(("value", "text"), [
    (0.8734, "87.3"), (0.9996, "99.9"), (1.0, "100.0"), (0.0, "0.0"), (0.0001, "0.1"), (None, "n/a"),
])
def test_pct_never_rounds_to_100_or_0(value, text) -> None:
    assert c.pct(value) == text


def test_decimals_and_p_values() -> None:
    assert c.dec(0.99996) == "0.999"
    assert c.dec(1.0) == "1.000"
    assert c.dec_ci([0.81, 0.93]) == "0.810–0.930"
    assert c.pct_ci([None, 0.5]) == "n/a"
    assert c.pvalue(0.0002) == "p < 0.001"
    assert c.pvalue(0.0234) == "p = 0.023"
    assert c.pvalue(0.5) == "p = 0.50"
    assert c.points(0.071) == "+7.1"
    assert c.points(-0.02) == "-2.0"


@pytest.mark.parametrize("ci, text", [
    ([-0.040, 0.041], "[\u22124.0, +4.1]"),   # the case that printed "-4.0–4.1"
    ([0.0004, 0.03], "[+0.04, +3.0]"),        # a lower end above zero never prints as zero
    ([-0.0004, 0.03], "[\u22120.04, +3.0]"),
    ([0.0, 0.02], "[+0.0, +2.0]"),
    ([-0.0, -0.0], "[+0.0, +0.0]"),             # identical predictions: no "−0.0"
    ([None, 0.02], "n/a"),
])
def test_difference_intervals_are_signed_and_bracketed(ci, text) -> None:
    assert c.points_ci(ci) == text


@pytest.mark.parametrize("diff, text", [(-1.8, "\u22121.8"), (6.1, "+6.1"), (0.0, "+0.0"), (-0.0, "+0.0")])
def test_a_difference_in_prose_uses_the_minus_sign_of_its_interval(diff, text) -> None:
    assert c.signed_points(diff) == text


def test_score_difference_interval() -> None:
    assert c.signed_ci([-0.0213, 0.0441]) == "[\u22120.021, +0.044]"


def test_units() -> None:
    assert c.params(11_177_538) == "11.18 M"
    assert c.params(2562) == "2.6 k"
    assert c.macs(1_819_000_000) == "1.82 G"
    assert c.seconds(41.23) == "41.2 s"
    assert c.seconds(192) == "3 min 12 s"
    assert c.megabytes(812) == "812.0 MB"
    assert c.plain(True) == "true"
    assert c.plain(None) == "n/a"


def test_markdown_escapes_html_and_renders_bold_and_lists() -> None:
    html = str(c.markdown("A **bold** <script>x</script>\n\n- one\n- *two*"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html
    assert "<ul><li>one</li><li><em>two</em></li></ul>" in html


def test_parse_cell_id() -> None:
    assert builder.parse_cell_id("pneumoniamnist-efficientnet_lite0-frozen-s3-1a2b3c4d") == {
        "dataset": "pneumoniamnist", "backbone": "efficientnet_lite0", "strategy": "frozen", "seed": 3}


def test_tables_and_figures_numbered_in_reading_order(store_copy) -> None:
    from reportgen.describe.persist import ensure_description
    from reportgen.store import load_run

    run = load_run(store_copy)
    ctx = context.build_context(run, ensure_description(run), "en")
    tables = [b.number for s in ctx.sections for b in s.blocks if isinstance(b, Table)]
    figures = [b.number for s in ctx.sections for b in s.blocks if isinstance(b, Figure)]
    assert tables == list(range(1, len(tables) + 1))
    assert figures == list(range(1, len(figures) + 1))
    # The discussion cites tables that exist.
    text = " ".join(b.text for s in ctx.sections for b in s.blocks if isinstance(b, Paragraph))
    cited = {int(n) for n in re.findall(r"Table (\d+)", text)}
    assert cited and cited <= set(tables)


def test_metric_in_table_matches_metrics_json(store_copy) -> None:
    from reportgen.describe.persist import ensure_description
    from reportgen.store import load_run

    run = load_run(store_copy)
    ctx = context.build_context(run, ensure_description(run), "en")
    cell = run.cells[0]
    expected = c.pct(cell.metrics.test.macro_f1)
    texts = [x.text for s in ctx.sections for b in s.blocks if isinstance(b, Table) for r in b.rows for x in r]
    assert expected in texts


@pytest.mark.parametrize("source, html", [
    ("微調全部權重、\n凍結特徵", "<p>微調全部權重、凍結特徵</p>"),          # after full-width punctuation: no space
    ("以相同架構從隨機\n初始化開始訓練", "<p>以相同架構從隨機初始化開始訓練</p>"),  # between two Han characters
    ("比較 EfficientNet\n模型", "<p>比較 EfficientNet 模型</p>"),            # Han beside Latin: the spacing rule
    ("fine-tuning all\nweights", "<p>fine-tuning all weights</p>"),
])
def test_a_wrapped_note_line_joins_as_its_language_writes(source: str, html: str) -> None:
    assert str(c.markdown(source)) == html
