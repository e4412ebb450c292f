"""Every paired comparison the run made, in one table per dataset (ref ``pairs:<dataset>``).

The discussion words each pair (strategy pairs per backbone, backbone pairs per strategy, the cell chosen on
validation against every other); this table holds the numbers those sentences quote — both macro-F1 values,
the difference, its paired-bootstrap CI and the Holm-adjusted p-value — so a cited table always holds them.
"""

from __future__ import annotations

from ...describe.model import Comparison, ComparisonKind
from ...i18n import t
from ..builder import Builder
from ..format import pct, points, points_ci, pvalue
from ..model import Cell, Section
from . import percell


def _side(b: Builder, row: Comparison, side: str) -> str:
    if row.kind is ComparisonKind.STRATEGY:
        return b.strategy_name(getattr(row, f"strategy_{side}"))
    if row.kind is ComparisonKind.BACKBONE:
        return b.bb_label(getattr(row, f"backbone_{side}"))
    cid = getattr(row, side)
    found = next((c for c in b.run.cells if c.id == cid), None)
    return b.cell_name(found.cell.backbone, found.cell.strategy) if found else cid


def _context(b: Builder, row: Comparison) -> str:
    seed = f" · seed {row.seed}" if len(b.seeds()) > 1 else ""
    if row.kind is ComparisonKind.STRATEGY:
        return t(b.lang, "pairs.within_backbone", backbone=b.bb_label(row.backbone or "")) + seed
    if row.kind is ComparisonKind.BACKBONE:
        return t(b.lang, "pairs.within_strategy", strategy=b.strategy_name(row.strategy or "")) + seed
    return t(b.lang, "pairs.best") + seed


def pairs_table(b: Builder, sec: Section, ds: str) -> None:
    rows = []
    for row in b.description.comparisons:
        part = row.macro_f1
        if row.dataset != ds or part.diff is None:
            continue
        label = t(b.lang, "pairs.row", a=_side(b, row, "a"), b=_side(b, row, "b"))
        rows.append([Cell(label, sub=_context(b, row)), pct(part.value_a), pct(part.value_b),
                     points(part.diff), points_ci(list(part.ci)),
                     pvalue(part.p_adjusted).removeprefix("p ").removeprefix("= ")])
    if not rows:
        return
    header = [t(b.lang, f"pairs.col.{k}") for k in ("pair", "a", "b", "diff", "ci", "p")]

    def build(where: Section) -> None:
        tab = b.table(where, f"pairs:{ds}", t(b.lang, "pairs.cap", dataset=b.ds_label(ds)), header, rows,
                      source="analysis/comparisons.json macro_f1", numeric_from=1)
        tab.keys = ["pair", "macro_f1_a", "macro_f1_b", "diff_points", "ci_points", "p_holm"]

    # A pair per seed: with many seeds the table goes to the per-run appendix (the discussion cites it there).
    percell.place(b, sec, f"pairs:{ds}", build, rows=len(rows), what=t(b.lang, "scale.what.pairs"),
                  files="analysis/comparisons.json", cited=True)
