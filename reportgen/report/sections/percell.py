"""The per-run appendix: tables that grow with the number of runs leave the body when they are long.

A table with a row per run (every seed of every backbone × strategy) reads well for a handful of runs and
not at all for hundreds: the body keeps the summary over seeds, and the per-run table is built in this
appendix section instead, the body saying where it is ("Table 31 in the appendix", a citation resolved at
layout like every other). In the brief report a per-run table nothing cites is left out, the body naming
the store's files that hold its numbers. The tables themselves are unchanged: same ref, rows and source.
"""

from __future__ import annotations

from collections.abc import Callable

from ..builder import Builder
from ..model import Paragraph, Section
from .seeded import st

INLINE_ROWS = 40  # a per-run table longer than this goes to the per-run appendix (about one A4 page)


def long(rows: int) -> bool:
    return rows > INLINE_ROWS


def place(b: Builder, sec: Section, ref: str, build: Callable[[Section], None], *, rows: int, what: str,
          files: str, cited: bool = False, force: bool = False) -> None:
    """Build a per-run table in ``sec`` when short; else in the per-run appendix, with a pointer in ``sec``.

    ``what``: the table in words ("the test metrics of every seed"); ``files``: where its numbers are in the
    store; ``cited``: a table sentences cite (kept in the appendix even in the brief report, so every
    citation resolves); ``force``: to the appendix whatever its length (the per-seed rows of a summary)."""
    if not force and not long(rows):
        build(sec)
        return
    if b.detail == "brief" and not cited:
        sec.blocks.append(Paragraph(st(b, "brief_out", what=what, rows=rows, files=files)))
        return
    b.deferred.append(build)
    sec.blocks.append(Paragraph(st(b, "moved", what=what, rows=rows, ref=b.ref(ref))))


def appendix(b: Builder) -> None:
    """The per-run appendix section, after the provenance appendix, when some table was moved to it."""
    if not b.deferred:
        return
    sec = Section(anchor="sec-per-run", number=len(b.sections) + 1, title=st(b, "section"),
                  title_alt="" if b.lang == "en" else st(b, "section_en"))
    b.sections.append(sec)
    sec.blocks.append(Paragraph(st(b, "appendix_intro")))
    for build in b.deferred:
        build(sec)
    b.deferred.clear()


__all__ = ["INLINE_ROWS", "appendix", "long", "place"]
