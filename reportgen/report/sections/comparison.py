"""Comparison across backbones × strategies: one table of every run, pivots with paired tests, seed spread,
most-confused class pairs, figures, cost.

Every value in a table is the cell's own metric (``metrics.json``, written by ``metrics.summarize``); the
difference and p-value come from ``analysis/comparisons.json``, whose per-cell values the consistency gate
has checked against the same metrics before rendering.
"""

from __future__ import annotations

from typing import Any

from ...describe.claims_shown import caption_id, outcome_of
from ...i18n import t
from ...registry import metrics as metric_registry
from ...store import CellResult
from .. import applicability
from ..builder import MAX_COLUMNS, Builder, parse_cell_id, slug
from ..format import count, dec, macs, megabytes, metric_formatters, params, pct, pvalue, seconds
from ..model import Cell, Heading, Paragraph, Section
from . import pairs, percell
from .results import degenerate, degenerate_cell, epoch_series, fig_labels, rt
from .seeded import st

PIVOT_METRICS = metric_registry.COMPARED
ORDINAL_METRICS = metric_registry.ORDINAL_ONLY  # shown (table column, pivot) only for datasets declared ordinal
CONFUSED_ROWS = 6  # most-confused pairs per table: the pairs a grader reads, not the whole off-diagonal


_fmt = metric_formatters


def is_ordinal(b: Builder, ds: str) -> bool:
    facts = b.facts(ds)
    return facts is not None and facts.task == "ordinal"


def _seed_tag(b: Builder, seed: int) -> str:
    return rt(b, "cap.seed_suffix", seed=seed) if len(b.seeds()) > 1 else ""


def comparison(b: Builder) -> None:
    sec = b.section("comparison")
    sec.blocks.append(Paragraph(b.tr("comparison.intro")))
    strategies = b.strategies()
    seed = b.seeds()[0]
    for ds in b.datasets():
        if len(b.datasets()) > 1:
            sec.blocks.append(Heading(b.ds_label(ds), f"sec-comparison-{slug(ds)}"))
        compare_table(b, sec, ds)
        pairs.pairs_table(b, sec, ds)  # the numbers every pair sentence of the discussion quotes
        if len(b.backbones()) >= 2 or (len(strategies) >= 2 and b.detail != "brief"):
            pivots(b, sec, ds, strategies, seed)
        elif len(strategies) >= 2 and b.has_ref(f"compare:{ds}"):
            # Brief, one backbone: each pivot would be the table above on one row; cited as that table (the
            # differences and p-values are in the pairs table).
            for metric in PIVOT_METRICS + (ORDINAL_METRICS if is_ordinal(b, ds) else ()):
                b.alias(f"pivot:{ds}:{metric}", f"compare:{ds}")
        elif b.has_ref(f"compare:{ds}"):  # one run per seed: the table above is the comparison; cited as such
            b.alias(f"pivot:{ds}:macro_f1", f"compare:{ds}")
        if any(b.is_collapsed(c) for c in b.cells(dataset=ds)):
            sec.blocks.append(Paragraph(b.tr("comparison.collapsed_mark")))
        if len(b.seeds()) > 1:
            seed_table(b, sec, ds)
        confused_tables(b, sec, ds, strategies, seed)
        _figures(b, sec, ds, strategies, seed)
    cost(b, sec)
    b.note(sec, "comparison")


def compare_table(b: Builder, sec: Section, ds: str) -> None:
    """Every run of one dataset in one table: accuracy beside macro-F1 and AUC (95 % CIs), kappa when
    ordinal, and the test loss — the table the labs' "compare all models" task asks for."""
    metrics = PIVOT_METRICS + (ORDINAL_METRICS if is_ordinal(b, ds) else ()) + ("loss",)
    multi_seed = len(b.seeds()) > 1
    rows: list[list[Any]] = []
    for bb in b.backbones():
        for s in b.strategies():
            if not b.applies(ds, bb, s):
                continue  # left out by design: listed once, with its reason, in the introduction
            for seed in b.seeds():
                row: list[Any] = [Cell(b.bb_label(bb), value=bb), Cell(b.strategy_name(s), value=s)] + (
                    [Cell(str(seed), value=seed)] if multi_seed else [])
                found = b.cells(dataset=ds, backbone=bb, strategy=s, seed=seed)
                if not found:
                    cid = next(iter(b.missing(dataset=ds, backbone=bb, strategy=s, seed=seed)), None)
                    rows.append(row + [applicability.missing_cell(b, cid)] + [Cell("—", cls="na")] * (len(metrics) - 1))
                    continue
                m = found[0].test
                for name in metrics:
                    if name == "auc" and degenerate(b, found[0]):
                        row.append(degenerate_cell(b))
                        continue
                    value, ci_fmt, _ = _fmt(name)
                    text = value(getattr(m, name))
                    if name == "accuracy" and b.is_collapsed(found[0]):
                        text = f"{text} †"
                    row.append(Cell(text, sub=ci_fmt(m.ci_of(name)) if m.ci_of(name) else "", value=getattr(m, name),
                                    ci=m.ci_of(name)))
                rows.append(row)
    header = [b.tr("col.backbone"), b.tr("col.strategy")] + ([rt(b, "col.seed")] if multi_seed else []) + [
        t(b.lang, metric_registry.get(name).label_key) for name in metrics]
    caption = rt(b, "cap.compare_ordinal" if is_ordinal(b, ds) else "cap.compare", dataset=b.ds_label(ds))

    def build(where: Section) -> None:
        tab = b.table(where, f"compare:{ds}", caption, header, rows, source="cells/*/metrics.json (test)",
                      numeric_from=3 if multi_seed else 2)
        tab.keys = ["backbone", "strategy"] + (["seed"] if multi_seed else []) + list(metrics)  # CSV column names

    # Hundreds of runs: the table goes to the per-run appendix (sentences cite it there); the seed table is the
    # summary in the body.
    percell.place(b, sec, f"compare:{ds}", build, rows=len(rows), what=st(b, "what.compare"),
                  files="cells/*/metrics.json", cited=True)


def pivots(b: Builder, sec: Section, ds: str, strategies: list[str], seed: int) -> None:
    """Rows = backbone, columns = strategy, one table per headline metric: with two backbones and
    pretrained vs scratch this is the 2×2 table of the retinopathy lab reports."""
    for metric in PIVOT_METRICS + (ORDINAL_METRICS if is_ordinal(b, ds) else ()):
        value, ci_fmt, diff_fmt = _fmt(metric)
        rows = []
        for bb in b.backbones():
            row: list[Any] = [Cell(b.bb_label(bb), value=bb)]
            for s in strategies:
                found = b.cells(dataset=ds, backbone=bb, strategy=s, seed=seed)
                if not found:
                    cid = next(iter(b.missing(dataset=ds, backbone=bb, strategy=s, seed=seed)), None)
                    row.append(applicability.missing_cell(b, cid) if b.applies(ds, bb, s) else applicability.na_cell(b))
                    continue
                m = found[0].test
                if metric == "auc" and degenerate(b, found[0]):
                    row.append(degenerate_cell(b))
                    continue
                sub = ci_fmt(m.ci_of(metric))
                comp = b.comparison(dataset=ds, backbone=bb, seed=seed, a=s, b="scratch")
                part = comp.metric(metric) if comp else None  # kappa has no paired test: its cell shows the CI only
                base = b.cells(dataset=ds, backbone=bb, strategy="scratch", seed=seed)
                # An AUC difference against scores that do not vary is float noise: no Δ is credited to it.
                noise = metric == "auc" and bool(base) and degenerate(b, base[0])
                if part and s != "scratch" and not noise:
                    sub = f"{sub}; Δ {diff_fmt(part.diff)}, {pvalue(part.p_adjusted)}"
                text = value(getattr(m, metric))
                if b.is_collapsed(found[0]):
                    text = f"{text} †"
                row.append(Cell(text, sub=sub, value=getattr(m, metric), ci=m.ci_of(metric)))
            rows.append(row)
        caption = (rt(b, "cap.pivot_kappa", dataset=b.ds_label(ds)) if metric in ORDINAL_METRICS
                   else b.tr(f"cap.pivot_{metric}", dataset=b.ds_label(ds)))
        tab = b.table(sec, f"pivot:{ds}:{metric}", caption + _seed_tag(b, seed),
                      [b.tr("col.backbone")] + [b.strategy_name(s) for s in strategies], rows,
                      source="cells/*/metrics.json (test), analysis/comparisons.json")
        tab.keys = ["backbone"] + [f"{s}_{metric}" for s in strategies]


def confused_tables(b: Builder, sec: Section, ds: str, strategies: list[str], seed: int) -> None:
    """Multi-class only: the most-confused (true → predicted) pairs per backbone, a column per strategy."""
    for bb in b.backbones():
        cells = {s: found[0] for s in strategies if (found := b.cells(dataset=ds, backbone=bb, strategy=s, seed=seed))}
        if not cells or next(iter(cells.values())).cell.num_classes < 3:
            continue
        total: dict[tuple[str, str], int] = {}
        for c in cells.values():
            for p in c.test.confused_pairs:
                total[(p.true, p.predicted)] = total.get((p.true, p.predicted), 0) + p.count
        # Rank by the count summed over strategies (ties: first appearance, i.e. metrics' own order).
        top = sorted(total, key=lambda k: -total[k])[:CONFUSED_ROWS]
        shown = [s for s in strategies if s in cells]
        rows: list[list[Any]] = []
        for true, predicted in top:
            row: list[Any] = [rt(b, "pair", true=true, predicted=predicted)]
            for s in shown:
                pair = next((p for p in cells[s].test.confused_pairs if (p.true, p.predicted) == (true, predicted)),
                            None)
                row.append(Cell(count(pair.count), sub=pct(pair.share)) if pair else Cell("0", sub=pct(0.0)))
            rows.append(row)
        if not rows:
            rows.append([Cell(rt(b, "no_confusions"), cls="na")] + [Cell("—", cls="na")] * len(shown))
        b.table(sec, f"confused:{ds}:{bb}",
                rt(b, "cap.confused", dataset=b.ds_label(ds), backbone=b.bb_label(bb), n=len(top)) + _seed_tag(b, seed),
                [rt(b, "col.pair")] + [b.strategy_name(s) for s in shown], rows,
                source=", ".join(f"cells/{c.id}/metrics.json test.confused_pairs" for c in cells.values()))


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
    # Brief, one backbone: its strategies' curves are already side by side in the results (one figure).
    overlays = [] if b.detail == "brief" and len(groups) == 1 else groups
    for i in range(0, len(overlays), MAX_COLUMNS):
        part = overlays[i:i + MAX_COLUMNS]
        b.figure(sec, f"overlay:{ds}:{part[0][0]}",
                 b.tr("cap.overlay", dataset=b.ds_label(ds), backbone=b.join(b.bb_label(bb) for bb, _ in part)),
                 ("overlay", {"series": [[epoch_series(c) for c in cells] for _, cells in part],
                              "titles": [b.bb_label(bb) for bb, _ in part], "labels": fig_labels(b)}),
                 source="cells/*/epochs.csv", wide=len(part) > 1)
    # A degenerate cell has no ROC curve worth drawing (its "curve" is float noise): left out, marked ‡ in the tables.
    binary = [(bb, [c for c in cells if not degenerate(b, c)]) for bb, cells in groups if cells[0].cell.num_classes == 2]
    binary = [(bb, cells) for bb, cells in binary if cells]
    for i in range(0, len(binary), MAX_COLUMNS):
        part = binary[i:i + MAX_COLUMNS]
        # The legend's AUC is the cell's stored AUC (the table's number); the curve is drawn from the
        # full-precision predictions it was computed from.
        b.figure(sec, f"roc:{ds}:{part[0][0]}",
                 b.tr("cap.roc", dataset=b.ds_label(ds), backbone=b.join(b.bb_label(bb) for bb, _ in part)),
                 ("roc", {"panels": [{"title": b.bb_label(bb), "cells": [
                     {"strategy": c.cell.strategy, **_roc_data(c), "auc_text": dec(c.test.auc)} for c in cells]}
                     for bb, cells in part],
                          "labels": fig_labels(b)}),
                 source="cells/*/predictions_test.csv, metrics.json auc", wide=len(part) > 1)
    for bb, cells in groups:
        cells = [c for c in cells if not degenerate(b, c)]
        if cells and cells[0].cell.num_classes > 2:
            ovr_roc(b, sec, ds, bb, cells)


def _roc_data(c: CellResult) -> dict[str, Any]:
    """What a ROC curve is drawn from: the cell's stored test labels and probabilities (the figure worker reads
    no file; the arrays key the figure cache)."""
    pred = c.predictions("test")
    return {"labels": pred.labels, "probs": pred.probs}


def ovr_roc(b: Builder, sec: Section, ds: str, bb: str, cells: list[CellResult]) -> None:
    """Multi-class: one-vs-rest ROC curves, a panel per strategy, one curve per class plus the macro average.
    The legend's AUCs are the stored per-class and macro AUCs (metrics.json), drawn from the same predictions."""
    order = {s: i for i, s in enumerate(b.strategies())}
    cells = sorted(cells, key=lambda c: order.get(c.cell.strategy, len(order)))
    panels = [{"title": b.strategy_name(c.cell.strategy), "ovr": True, "strategy": c.cell.strategy,
               **_roc_data(c), "classes": c.test.class_names,
               "auc_texts": [dec(pc.auc) for pc in c.test.per_class], "macro_text": dec(c.test.auc)} for c in cells]
    labels = {**fig_labels(b), "macro": rt(b, "fig.macro")}
    for i in range(0, len(panels), MAX_COLUMNS):
        part = panels[i:i + MAX_COLUMNS]
        b.figure(sec, f"roc:{ds}:{bb}" + (f":{i // MAX_COLUMNS}" if i else ""),
                 rt(b, "cap.roc_ovr", dataset=b.ds_label(ds), backbone=b.bb_label(bb)),
                 ("roc", {"panels": part, "labels": labels}),
                 source=", ".join(f"cells/{c.id}/predictions_test.csv" for c in cells) + ", metrics.json per_class.auc",
                 wide=len(part) > 1)


def seed_table(b: Builder, sec: Section, ds: str) -> None:
    """Several seeds: mean ± sd of each headline metric, so one lucky seed is not the result."""
    rows = []
    for r in b.description.seeds:
        if r.dataset != ds:
            continue
        # Two configurations of one backbone × strategy (cells kept from an edited TOML) are two rows, each with
        # its own n; the settings that tell them apart are printed under the strategy.
        differs = ", ".join(f"{k} = {v}" for k, v in r.differs.items())
        cells: list[Any] = [b.bb_label(r.backbone), Cell(b.strategy_name(r.strategy), sub=differs), str(r.n)]
        for m in metric_registry.HEADLINE:
            ms = getattr(r, m)
            fmt = metric_formatters(m)[0]
            cells.append(Cell(fmt(ms.mean), sub=f"± {fmt(ms.sd)}" if ms.sd is not None else "", value=ms.mean))
        rows.append(cells)
    if rows:
        header = [b.tr("col.backbone"), b.tr("col.strategy"), b.tr("col.n_seeds")] + [
            t(b.lang, metric_registry.get(m).label_key) for m in metric_registry.HEADLINE]
        tab = b.table(sec, f"seeds:{ds}", b.tr("cap.seeds", dataset=b.ds_label(ds)), header, rows,
                      source="analysis/seeds.json", numeric_from=2)
        tab.keys = ["backbone", "strategy", "n_seeds"] + [f"{m}_mean" for m in metric_registry.HEADLINE]


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
        per_epoch = res.train_time_s / res.epochs_run if res.epochs_run else None
        # Trainable parameters of each stage that ran (a warm-up: head → everything); older stores: arch.json's.
        per_stage = [s.trainable_params for s in res.stages] if res.stages and len(res.stages) > 1 \
            else [arch.params_trainable]
        # value: the exact stored number behind each text (CSV export); the first cell's is the cell id.
        rows.append([Cell(b.bb_label(c.cell.backbone) + (f" s{c.cell.seed}" if multi_seed else ""), value=c.id),
                     Cell(b.strategy_name(c.cell.strategy), value=c.cell.strategy), Cell(seconds(wall), value=wall),
                     Cell(seconds(per_epoch), value=per_epoch),
                     Cell(megabytes(res.peak_mem_mb), value=res.peak_mem_mb),
                     Cell(" → ".join(params(p) for p in per_stage), value=per_stage[-1]),
                     Cell(macs(arch.macs), value=arch.macs), Cell(pct(c.test.macro_f1), value=c.test.macro_f1)])
        pts.append({"strategy": c.cell.strategy, "backbone": b.bb_label(c.cell.backbone), "wall": wall,
                    "trainable": per_stage[-1], "macro_f1": c.test.macro_f1})
    for cid in b.run.missing:
        p = parse_cell_id(cid)
        rows.append([b.bb_label(p.get("backbone", cid)), b.strategy_name(p.get("strategy", "")),
                     applicability.missing_cell(b, cid)] + [Cell("—", cls="na")] * 5)

    def build(where: Section) -> None:
        tab = b.table(where, "cost", b.tr("cap.cost"), header, rows, source="cells/*/result.json, arch.json",
                      numeric_from=2)
        tab.keys = ["cell", "strategy", "wall_time_s", "seconds_per_epoch", "peak_mem_mb", "params_trainable",
                    "macs", "macro_f1"]

    percell.place(b, sec, "cost", build, rows=len(rows), what=st(b, "what.cost"),
                  files="cells/*/result.json, cells/*/arch.json")
    if pts:
        log = outcome_of(b.description, caption_id("cost_scale")) == "log"  # the figure and its caption agree
        b.figure(sec, "cost_scatter", t(b.lang, f"claimcheck.cap.cost_scatter.{'log' if log else 'linear'}"),
                 ("cost", {"points": pts, "backbones": [b.bb_label(x) for x in b.backbones()],
                           "labels": fig_labels(b), "log_trainable": log}),
                 source="cells/*/result.json, arch.json, metrics.json", wide=True)


__all__ = ["comparison", "count"]
