"""References by identity: every "Table N" / "圖 N" in the prose lands on the element holding what it cites.

The report is a runner-made store (EfficientNet-Lite0 × three strategies and an MLP without weights) rendered
to PDF in both languages; the citations are read from the PDF's text as a grader reads them, the tables'
contents from the HTML of the same document (see refcheck.py).
"""

from __future__ import annotations

import collections
import re

import pytest
from refcheck import citations, elements, misplaced, pdf_text, prose

from reportgen.errors import RenderError
from reportgen.report.builder import Builder
from reportgen.report.model import Paragraph, Section
from reportgen.report.refs import layout, unresolved

LANGS = ("en", "zh-TW")


@pytest.mark.parametrize("lang", LANGS)
def test_every_citation_in_the_pdf_lands_on_the_element_holding_the_cited_value(mixed_pdf: dict, lang: str) -> None:
    html, text = mixed_pdf[lang]["html"], pdf_text(mixed_pdf[lang]["pdf"])
    found = citations(text, lang)
    assert len(found) >= 5, found  # abstract, discussion, hyperparameters: the check has something to check
    assert misplaced(text, html, lang) == []
    assert not unresolved(html)


@pytest.mark.parametrize("lang", LANGS)
def test_sensitivity_and_specificity_cite_the_table_that_holds_them(mixed_pdf: dict, lang: str) -> None:
    """The collapsed-baseline sentence quotes sensitivity/specificity at the validation threshold: the
    citation names the test-metrics table of that strategy (which holds them), not only the macro-F1 pivot."""
    word = {"en": "specificity", "zh-TW": "特異度"}[lang]
    text = pdf_text(mixed_pdf[lang]["pdf"])
    tables = elements(mixed_pdf[lang]["html"])
    quoted = [(s, labels) for s, labels in citations(text, lang) if word in s]
    if not quoted:  # degenerate scores get no threshold claim, and a learning cell gets no collapsed-baseline sentence
        pytest.skip("no sentence of this store quotes sensitivity/specificity")
    for sentence, labels in quoted:
        spec = re.findall(r"(\d+\.\d)\s*%", sentence)[-2:]  # sensitivity, specificity
        holders = [lb for lb in labels if all(v in tables.get(lb, "") for v in spec)]
        assert holders, (sentence, labels)


@pytest.mark.parametrize("lang", LANGS)
def test_no_paragraph_is_repeated(mixed_pdf: dict, lang: str) -> None:
    html = mixed_pdf[lang]["html"]
    items = prose(html) + [" ".join(re.sub(r"<[^>]+>", " ", li).split()) for li in re.findall(r"<li>(.*?)</li>", html,
                                                                                                flags=re.S)]
    repeated = [p for p, n in collections.Counter(p for p in items if p).items() if n > 1]
    assert repeated == []


def test_numbers_follow_reading_order_and_a_missing_ref_is_an_error(mixed_store) -> None:
    """Layout numbers in reading order whatever order the tables were created in; citing a ref no element
    carries stops the render."""
    from reportgen.describe.persist import ensure_description
    from reportgen.store import load_run

    run = load_run(mixed_store)
    b = Builder(run, ensure_description(run), "en")
    first, second = b.section("results"), b.section("comparison")
    late = b.table(second, "late", "created first, read second", ["a"], [["1"]], source="-")
    early = b.table(first, "early", "created second, read first", ["a"], [["2"]], source="-")
    b.alias("early-alias", "early")
    first.blocks.insert(0, Paragraph(f"see {b.ref('late')} and {b.ref('missing', 'early-alias')}"))
    b.layout()
    assert (early.label, late.label) == ("Table 1", "Table 2")
    assert first.blocks[0].text == "see Table 2 and Table 1"
    broken = Section(anchor="sec-x", number=3, title="x", blocks=[Paragraph(b.ref("nowhere"))])
    with pytest.raises(RenderError, match="nowhere"):
        layout([broken], b.refs, "en")
