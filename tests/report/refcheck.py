"""Reading a rendered report as a grader does: which table or figure each citation in the prose lands on.

Shared by the reference tests (``test_refs.py``): the PDF's text gives the citations as printed, the HTML
gives each table's label and contents (the PDF and HTML of one language come from one laid-out context).
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

LABEL = {"en": r"(Table|Figure) (\d+)", "zh-TW": r"(表|圖) ?(\d+)"}
TABLE_WORD = {"en": "Table", "zh-TW": "表"}
DECIMAL = re.compile(r"(?<![\d.])\d+\.\d+(?![\d])")
# A difference or ratio worked out in the sentence ("39.8 points", "4.7×", "4.7 倍") is no table's cell value.
DIFFERENCE = re.compile(r"^(-point| points?| percentage points?| ?個百分點| ?×| ?倍)")


def pdf_text(path: Path) -> str:
    import pypdf

    return "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(str(path)).pages)


def _plain(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))


def elements(html: str) -> dict[str, str]:
    """Label ("Table 14" / "表 14") → the visible text of that table or figure (caption and cells)."""
    out = {}
    for m in re.finditer(r'<figure class="(?:table|figure)[^"]*"[^>]*>(.*?)</figure>', html, flags=re.S):
        label = re.search(r'<span class="label">([^<]+)</span>', m.group(1))
        if label:
            out[label.group(1).strip()] = _plain(m.group(1))
    return out


def prose(html: str) -> list[str]:
    """Every paragraph of generated prose (class-less <p>: not sources, notes or captions)."""
    return [" ".join(_plain(p).split()) for p in re.findall(r"<p>(.*?)</p>", html, flags=re.S)]


def citations(text: str, lang: str) -> list[tuple[str, list[str]]]:
    """(the sentence before it, the labels cited) for every parenthesised citation in running text."""
    zh = lang.startswith("zh")
    flat = re.sub(r"\s*\n\s*", "" if zh else " ", text)
    flat = re.sub(r"(?<=[a-z])- (?=[a-z])", "-", flat)  # a word broken at a line end
    out = []
    for m in re.finditer(r"[(（]([^()（）]*)[)）]", flat):
        labels = [f"{w} {n}" if not zh else f"{w} {n}" for w, n in re.findall(LABEL[lang], m.group(1))]
        if not labels:
            continue
        start = max(flat.rfind(stop, 0, m.start()) for stop in ((". ", "。") if not zh else ("。", ". ")))
        out.append((flat[start + 1:m.end()], labels))
    return out


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def misplaced(text: str, html: str, lang: str) -> list[str]:
    """Citations that land on no element, or cite a value that sits in another table but not in the cited ones.

    A value is a decimal number printed in the citing sentence; values found in no table at all (a
    difference worked out in the sentence) are not judged here.
    """
    tables = elements(html)
    paragraphs = _squash(" ".join(prose(html)))
    problems = []
    for sentence, labels in citations(text, lang):
        for label in labels:
            if label not in tables:
                problems.append(f"{label} cited but not in the report: {sentence!r}")
        cited = " ".join(tables.get(lb, "") for lb in labels)
        if not any(lb.startswith(TABLE_WORD[lang]) for lb in labels):
            continue  # figures hold no text to compare
        if _squash(sentence[-60:]) not in paragraphs:
            continue  # a citation inside a table cell ("see Table 5"): the sentence is the cell, not prose
        for m in DECIMAL.finditer(sentence):
            value = m.group(0)
            if DIFFERENCE.match(sentence[m.end():]):
                continue
            pat = re.compile(rf"(?<![\d.]){re.escape(value)}(?![\d])")
            elsewhere = [lb for lb, body in tables.items() if pat.search(body)]
            if elsewhere and not pat.search(cited):
                problems.append(f"{value} is in {', '.join(elsewhere)}, not in the cited {', '.join(labels)}: "
                                f"{sentence!r}")
    return problems


def table_rows(html: str, ref: str) -> list[list[str]]:
    """The body rows of the table whose data-ref is ``ref``, each cell's visible text (sub-line included)."""
    m = re.search(rf'<figure class="table[^"]*"[^>]*data-ref="{re.escape(ref)}">(.*?)</figure>', html, flags=re.S)
    assert m, f"no table with data-ref {ref!r}"
    body = re.search(r"<tbody>(.*?)</tbody>", m.group(1), flags=re.S).group(1)
    return [[" ".join(_plain(td).split()) for td in re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)]


def visible(html: str, *, code: bool = False) -> str:
    """The text a reader sees (figure payloads dropped); without ``code`` the appendix's TOML listing is left out."""
    html = re.sub(r"data:[^\"')]+", "", html)
    if not code:
        html = re.sub(r"<pre.*?</pre>", " ", html, flags=re.S)
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(_plain(html).split())
