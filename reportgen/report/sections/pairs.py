"""Every paired comparison the run made, in one table per dataset (ref ``pairs:<dataset>``).

The discussion words each pair (strategy pairs per backbone, backbone pairs per strategy, the cell chosen on
validation against every other); this table holds the numbers those sentences quote — both macro-F1 values,
the difference, its paired-bootstrap CI and the Holm-adjusted p-value — so a cited table always holds them.
"""

from __future__ import annotations

from ...i18n import t
from ..builder import Builder
from ..format import pct, points, points_ci, pvalue
from ..model import Cell, Section


def _side(b: Builder, row: dict, side: str) -> str:
    kind = row.get("kind")
    if kind == "strategy":
        return b.strategy_name(row[f"strategy_{side}"])
    if kind == "backbone":
        return b.bb_label(row[f"backbone_{side}"])
    cid = row[side]
    found = next((c for c in b.run.cells if c.id == cid), None)
    return f"{b.bb_label(found.cell.backbone)} / {b.strategy_name(found.cell.strategy)}" if found else cid


def _context(b: Builder, row: dict) -> str:
    kind = row.get("kind")
    seed = f" · seed {row.get('seed')}" if len(b.seeds()) > 1 and row.get("seed") is not None else ""
    if kind == "strategy":
        return t(b.lang, "pairs.within_backbone", backbone=b.bb_label(row["backbone"])) + seed
    if kind == "backbone":
        return t(b.lang, "pairs.within_strategy", strategy=b.strategy_name(row["strategy"])) + seed
    return t(b.lang, "pairs.best") + seed


def pairs_table(b: Builder, sec: Section, ds: str) -> None:
    rows = []
    for row in b.analysis.get("comparisons", []):
        part = row.get("macro_f1") or {}
        if row.get("dataset") != ds or part.get("diff") is None:
            continue
        label = t(b.lang, "pairs.row", a=_side(b, row, "a"), b=_side(b, row, "b"))
        rows.append([Cell(label, sub=_context(b, row)), pct(part.get("value_a")), pct(part.get("value_b")),
                     points(part.get("diff")), points_ci(part.get("ci")),
                     pvalue(part.get("p_adjusted")).removeprefix("p ").removeprefix("= ")])
    if not rows:
        return
    header = [t(b.lang, f"pairs.col.{k}") for k in ("pair", "a", "b", "diff", "ci", "p")]
    tab = b.table(sec, f"pairs:{ds}", t(b.lang, "pairs.cap", dataset=b.ds_label(ds)), header, rows,
                  source="analysis/comparisons.json macro_f1", numeric_from=1)
    tab.keys = ["pair", "macro_f1_a", "macro_f1_b", "diff_points", "ci_points", "p_holm"]
