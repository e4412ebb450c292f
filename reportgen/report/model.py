"""The report's view models: plain dataclasses the templates walk (coverage.py's shape).

Nothing here computes or formats a number; :mod:`builder` and the section modules fill them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup


@dataclass
class Cell:
    """One table cell: text, an optional smaller second line, and a CSS class."""

    text: str
    sub: str = ""
    cls: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, text): cross-references (task index)
    # The exact stored value and CI behind ``text`` (CSV export carries them next to the text); None: text only.
    value: Any = None
    ci: tuple[float, float] | None = None


def cell_text(cell: Cell) -> str:
    """The text a reader sees in a cell, in every format (HTML, Word, Markdown, LaTeX): text, links, second line."""
    return " ".join(x for x in [cell.text, *(text for _, text in cell.links), cell.sub] if x)


@dataclass
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass
class Note:
    """A user's own Markdown paragraph(s) from run.json report.notes."""

    html: Markup
    label: str
    kind: str = "note"


@dataclass
class Heading:
    text: str
    anchor: str
    kind: str = "heading"


@dataclass
class BulletList:
    items: list[str]
    kind: str = "list"


@dataclass
class Code:
    text: str
    caption: str
    kind: str = "code"


@dataclass
class Table:
    number: int
    anchor: str
    label: str  # "Table 4" / "表 4"
    caption: str
    header: list[str]
    rows: list[list[Cell]]
    source: str
    numeric_from: int = 1  # columns from this index on are right-aligned numbers
    ref: str = ""  # the builder's stable reference ("epochs-<cell id>"), written as data-ref for tests/tools
    cls: str = ""  # extra CSS class ("compact": long logs in a smaller font)
    keys: list[str] = field(default_factory=list)  # machine names of the columns (CSV headers of the export)
    kind: str = "table"


@dataclass
class Figure:
    number: int
    anchor: str
    label: str
    caption: str
    alt: str
    source: str
    job: tuple[str, dict] = field(repr=False)
    uri: str = ""
    wide: bool = False
    ref: str = ""
    width: str = ""  # CSS width of the drawn figure (HTML only; the PDF uses image-resolution)
    kind: str = "figure"


@dataclass
class FindingItem:
    severity: str
    severity_label: str
    title: str
    detail: str
    fix: str
    scope: str


@dataclass
class Findings:
    items: list[FindingItem]
    kind: str = "findings"


@dataclass
class Section:
    anchor: str
    number: int
    title: str
    blocks: list[Any] = field(default_factory=list)
    # The English section name under a zh-TW heading: Taiwanese lab reports are graded by readers of
    # both, and course rubrics name the sections in English ("Model selection", "Discussion").
    title_alt: str = ""

    @property
    def toc(self) -> list[Heading]:
        return [b for b in self.blocks if isinstance(b, Heading)]


@dataclass
class Cover:
    title: str
    course: str
    author: str
    student_id: str
    date: str
    labels: dict[str, str]


@dataclass
class Link:
    href: str
    text: str


@dataclass
class ReportContext:
    lang: str
    title: str
    cover: Cover
    ui: dict[str, str]  # fixed strings the templates need (TOC title, page label, ...)
    sections: list[Section]
    other_languages: list[Link] = field(default_factory=list)
    font_face_url: str = ""  # set for PDF output: @font-face src pointing to the CJK font file
    unanswered: list[str] = field(default_factory=list)  # ids of [[report.tasks]] with no answer
    checklist_open: list[str] = field(default_factory=list)  # CLAIM/TRIPOD+AI items neither the run nor the author answers
    drafts: dict[str, str] = field(default_factory=dict)  # task id → Markdown draft answer (written beside the report)

    @property
    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]

