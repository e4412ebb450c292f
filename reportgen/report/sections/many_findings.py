"""Findings at many runs: one item per check and configuration in the body, every run's in the appendix.

With hundreds of runs the same check fires for many seeds of one configuration ("accuracy barely beats the
majority class" for 160 seeds of fine-tuning), and the validity section became eighty pages of near-identical
items. Past :data:`percell.INLINE_ROWS` findings, the body keeps the first finding of each (check, severity,
scope without the seed) as worded, and says how many other seeds the same check found it in and which; the
per-run appendix lists every finding (severity, title, scope). Nothing is re-worded or re-judged here: the
items are the ones :func:`back.findings` worded from ``analysis/findings.json``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..builder import Builder
from ..model import Cell, FindingItem, Section
from . import percell
from .seeded import st


def _key(f: Any) -> tuple:
    scope = {k: v for k, v in f.scope.items() if k not in ("seed", "cell_id")}
    return (f.id, f.severity, tuple(sorted((k, str(v)) for k, v in scope.items())))


def ranges(seeds: list[int]) -> list[str]:
    """Seeds as runs of consecutive numbers: [1, 2, 3, 5] → ["1–3", "5"]."""
    out: list[str] = []
    start = prev = None
    for s in seeds + [None]:
        if start is not None and (s is None or s != prev + 1):
            out.append(str(start) if start == prev else f"{start}–{prev}")
            start = None
        if s is not None and start is None:
            start = s
        prev = s
    return out


def grouped(b: Builder, sec: Section, found: list[Any], items: list[FindingItem]) -> list[FindingItem]:
    """The body's items: the first of each group, with the other seeds named; every item to the appendix."""
    groups: dict[tuple, list[tuple[Any, FindingItem]]] = {}
    for f, item in zip(found, items, strict=True):
        groups.setdefault(_key(f), []).append((f, item))
    out = []
    for members in groups.values():
        first = members[0][1]
        others = [f.scope.get("seed") for f, _ in members[1:] if f.scope.get("seed") is not None]
        if others:
            more = st(b, "findings.others", n=len(others), seeds=b.join(ranges(sorted(others))))
            first = replace(first, detail=("" if b.lang.startswith("zh") else " ").join((first.detail, more)))
        out.append(first)

    def build(where: Section) -> None:
        rows = [[Cell(item.severity_label, cls=item.severity), item.title, item.scope] for item in items]
        b.table(where, "findings-runs", st(b, "cap.findings"), [st(b, "col.severity"), st(b, "col.finding"),
                                                                 st(b, "col.scope")],
                rows, source="analysis/findings.json", numeric_from=99)

    percell.place(b, sec, "findings-runs", build, rows=len(items), force=True, what=st(b, "what.findings"),
                  files="analysis/findings.json")
    return out


__all__ = ["grouped"]
