"""The text of every table in a rendered report, as a reader sees it (for comparing formats).

HTML: each ``<figure class="table" data-ref=…>``'s header and cell texts, the parts of a cell (value,
links, second line) joined by one space — the same rule as ``reportgen.report.model.cell_text``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list]] = {}
        self.captions: dict[str, str] = {}
        self.ref: str | None = None
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.in_head = False

    def handle_starttag(self, tag: str, attrs) -> None:
        a = dict(attrs)
        if tag == "figure" and "table" in (a.get("class") or "").split():
            self.ref = a.get("data-ref") or a.get("id")
            self.tables[self.ref] = {"header": [], "rows": []}
            self.captions[self.ref] = ""
        elif self.ref is None:
            return
        elif tag == "figcaption":
            self.cell = []
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        elif self.cell is not None and tag in ("span", "br", "a"):
            self.cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.ref is None:
            return
        if tag == "figcaption" and self.cell is not None:
            self.captions[self.ref] = norm("".join(self.cell))
            self.cell = None
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(norm("".join(self.cell)))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.ref]["header" if self.in_head else "rows"].append(self.row)
            self.row = None
        elif tag == "thead":
            self.in_head = False
        elif tag == "figure":
            self.ref = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def html_tables(html: str) -> dict[str, dict[str, list]]:
    """``{data-ref: {"header": [[th text]], "rows": [[td text]]}}`` of every table in the document."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def html_captions(html: str) -> dict[str, str]:
    """``{data-ref: caption text ("Table 4 Every run …")}`` of every table in the document."""
    parser = _Tables()
    parser.feed(html)
    return parser.captions
