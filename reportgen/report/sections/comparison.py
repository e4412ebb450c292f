"""Comparison across backbones × strategies: pivots with paired tests, seed spread, figures, cost.

Every value in a pivot cell is the cell's own metric (the object its results table shows); the
difference and p-value come from ``analysis/comparisons.json``, whose per-cell values the
consistency gate has checked against the same metrics before rendering.
"""

from __future__ import annotations

from typing import Any

from ..builder import MAX_COLUMNS, Builder, parse_cell_id, slug, stamp
from ..format import count, dec, dec_ci, macs, megabytes, params, pct, pct_ci, points, pvalue, seconds, signed
from ..model import Cell, Heading, Paragraph, Section
from .results import epoch_series, fig_labels

PIVOT_METRICS = ("accuracy", "macro_f1", "auc")


def _fmt(metric: str):
    return (dec, dec_ci, signed) if metric == "auc" else (pct, pct_ci, points)


def comparison(b: Builder) -> None:
    sec = b.section("comparison")
    sec.blocks.append(Paragraph(b.tr("comparison.intro")))
    strategies = b.strategies()
    seed = b.seeds()[0]
    for ds in b.datasets():
        if len(b.datasets()) > 1:
            sec.blocks.append(Heading(b.ds_label(ds), f"sec-comparison-{slug(ds)}"))
        for metric in PIVOT_METRICS:
            value, ci_fmt, diff_fmt = _fmt(metric)
            rows = []
            for bb in b.backbones():
                row: list[Any] = [b.bb_label(bb)]
                for s in strategies:
                    found = b.cells(dataset=ds, backbone=bb, strategy=s, seed=seed)
                    if not found:
                        row.append(Cell(b.tr("ui.not_run"), cls="na"))
                        continue
                    m = found[0].test
                    sub = ci_fmt(m.ci_of(metric))
                    comp = b.comparison(dataset=ds, backbone=bb, seed=seed, a=s, b="scratch")
                    if comp and s != "scratch":
                        part = comp.get(metric) or {}
                        sub = f"{sub}; Δ {diff_fmt(part.get('diff'))}, {pvalue(part.get('p_adjusted'))}"
                    text = value(getattr(m, metric))
                    if b.is_collapsed(found[0]):
                        text = f"{text} †"
                    row.append(Cell(text, sub=sub))
                rows.append(row)
            b.table(sec, f"pivot:{ds}:{metric}", b.tr(f"cap.pivot_{metric}", dataset=b.ds_label(ds)),
                    [b.tr("col.backbone")] + [b.strategy_name(s) for s in strategies], rows,
                    source="cells/*/metrics.json (test), analysis/comparisons.json")
        if any(b.is_collapsed(c) for c in b.cells(dataset=ds)):
            sec.blocks.append(Paragraph(b.tr("comparison.collapsed_mark")))
        if len(b.seeds()) > 1:
            seed_table(b, sec, ds)
        _figures(b, sec, ds, strategies, seed)
    cost(b, sec)
    b.note(sec, "comparison")


def _figures(b: Builder, sec: Section, ds: str, strategies: list[str], seed: int) -> None:
    done = b.cells(dataset=ds)
    if done:
        b.figure(sec, f"headline:{ds}", b.tr("cap.headline", dataset=b.ds_label(ds)),
                 ("headline", {"backbones": [b.bb_label(x) for x in b.backbones()], "strategies": strategies,
                               "labels": fig_labels(b),
                               "values": {f"{b.bb_label(c.cell.backbone)}|{c.cell.strategy}": {
                                   "macro_f1": c.test.macro_f1, "auc": c.test.auc,
                                   "ci_f1": c.test.ci_of("macro_f1"), "ci_auc": c.test.ci_of("auc")}
                                   for c in done if c.cell.seed == seed}}),
                 source="cells/*/metrics.json (test)", wide=True)
    groups = [(bb, [c for c in b.cells(dataset=ds, backbone=bb) if c.cell.seed == seed]) for bb in b.backbones()]
    groups = [(bb, cells) for bb, cells in groups if cells]
    for i in range(0, len(groups), MAX_COLUMNS):
        part = groups[i:i + MAX_COLUMNS]
        b.figure(sec, f"overlay:{ds}:{part[0][0]}",
                 b.tr("cap.overlay", dataset=b.ds_label(ds), backbone=b.join(b.bb_label(bb) for bb, _ in part)),
                 ("overlay", {"series": [[epoch_series(c) for c in cells] for _, cells in part],
                              "titles": [b.bb_label(bb) for bb, _ in part], "labels": fig_labels(b)}),
                 source="cells/*/epochs.csv", wide=len(part) > 1)
    binary = [(bb, cells) for bb, cells in groups if cells[0].cell.num_classes == 2]
    for i in range(0, len(binary), MAX_COLUMNS):
        part = binary[i:i + MAX_COLUMNS]
        # The legend's AUC is the cell's stored AUC (the table's number); the curve is drawn from the
        # full-precision predictions it was computed from.
        b.figure(sec, f"roc:{ds}:{part[0][0]}",
                 b.tr("cap.roc", dataset=b.ds_label(ds), backbone=b.join(b.bb_label(bb) for bb, _ in part)),
                 ("roc", {"panels": [{"title": b.bb_label(bb), "cells": [
                     {"strategy": c.cell.strategy, "path": str(c.path), "stamp": stamp(c, "predictions_test.csv"),
                      "auc_text": dec(c.test.auc)} for c in cells]} for bb, cells in part],
                          "labels": fig_labels(b)}),
                 source="cells/*/predictions_test.csv, metrics.json auc", wide=len(part) > 1)


def seed_table(b: Builder, sec: Section, ds: str) -> None:
    """Several seeds: mean ± sd of each headline metric, so one lucky seed is not the result."""
    rows = []
    for r in b.analysis.get("seeds", []):
        if r.get("dataset") != ds:
            continue
        cells: list[Any] = [b.bb_label(r.get("backbone", "")), b.strategy_name(r.get("strategy", "")),
                            str(len(r.get("seeds", [])))]
        for m in ("accuracy", "balanced_accuracy", "macro_f1", "auc"):
            ms = r.get(m) or {}
            fmt = dec if m == "auc" else pct
            cells.append(Cell(fmt(ms.get("mean")), sub=f"± {fmt(ms.get('sd'))}" if ms.get("sd") is not None else ""))
        rows.append(cells)
    if rows:
        header = [b.tr("col.backbone"), b.tr("col.strategy"), b.tr("col.n_seeds")] + [
            b.tr(f"col.{m}") for m in ("accuracy", "balanced_accuracy", "macro_f1", "auc")]
        b.table(sec, f"seeds:{ds}", b.tr("cap.seeds", dataset=b.ds_label(ds)), header, rows,
                source="analysis/seeds.json", numeric_from=2)


def cost(b: Builder, sec: Section) -> None:
    """What each cell paid for its score."""
    header = [b.tr(f"col.{k}") for k in ("cell", "strategy", "wall_time", "per_epoch", "peak_mem",
                                         "params_trainable", "macs", "macro_f1")]
    rows: list[list[Any]] = []
    pts = []
    multi_seed = len(b.seeds()) > 1
    for c in b.run.cells:
        res, arch = c.result, c.arch
        wall = res.wall_time_s
        rows.append([b.bb_label(c.cell.backbone) + (f" s{c.cell.seed}" if multi_seed else ""),
                     b.strategy_name(c.cell.strategy), seconds(wall),
                     seconds(res.train_time_s / res.epochs_run if res.epochs_run else None),
                     megabytes(res.peak_mem_mb), params(arch.params_trainable), macs(arch.macs),
                     pct(c.test.macro_f1)])
        pts.append({"strategy": c.cell.strategy, "backbone": b.bb_label(c.cell.backbone), "wall": wall,
                    "trainable": arch.params_trainable, "macro_f1": c.test.macro_f1})
    for cid in b.run.missing:
        p = parse_cell_id(cid)
        rows.append([b.bb_label(p.get("backbone", cid)), b.strategy_name(p.get("strategy", "")),
                     Cell(b.tr("ui.not_run"), cls="na")] + [Cell("—", cls="na")] * 5)
    b.table(sec, "cost", b.tr("cap.cost"), header, rows, source="cells/*/result.json, arch.json", numeric_from=2)
    if pts:
        b.figure(sec, "cost_scatter", b.tr("cap.cost_scatter"),
                 ("cost", {"points": pts, "backbones": [b.bb_label(x) for x in b.backbones()],
                           "labels": fig_labels(b)}),
                 source="cells/*/result.json, arch.json, metrics.json", wide=True)


__all__ = ["comparison", "count"]
