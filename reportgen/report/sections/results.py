"""Results per strategy: test metrics with CIs, training curves, classification reports, confusion matrices."""

from __future__ import annotations

from typing import Any

from ...describe.claims_shown import caption_id, outcome_of, warmup_boundary
from ...i18n import t
from ...published import baselines
from ...registry import metrics as metric_registry
from ...store import CellResult
from ...store.schema import SplitMetrics
from .. import applicability
from ..builder import STRATEGY_ORDER, Builder, cell_label, chunks, slug
from ..format import NA, count, dec, metric_formatters, pct, pct_ci, plain
from ..model import Cell, Heading, Paragraph, Section
from ..prose import metric_label

METRIC_COLS = metric_registry.TABLE


def rt(b: Builder, key: str, **values: Any) -> str:
    """A string of the results catalog domain (``reportgen/i18n/results.*.json``: comparison, class reports)."""
    return t(b.lang, f"results.{key}", **values)


def sens_spec(m: SplitMetrics, rule: str) -> str:
    block = (m.binary or {}).get(rule)
    return f"{pct(block.sensitivity)} / {pct(block.specificity)}" if block else NA


def degenerate(b: Builder, c: CellResult) -> bool:
    """Test scores spanning less than numeric resolution: the tables mark their AUC and thresholds, not credit them.
    Read from the description's cell facts (computed once from the stored test scores, as the claims are)."""
    return outcome_of(b.description, caption_id("degenerate", c.id)) == "degenerate"


def degenerate_cell(b: Builder) -> Cell:
    return Cell("—‡", sub=t(b.lang, "claims.degenerate_tag"), cls="na")


def metric_row(b: Builder, c: CellResult) -> list[Any]:
    m, res = c.test, c.result
    row: list[Any] = []
    flat = degenerate(b, c)
    for name in METRIC_COLS:
        v = getattr(m, name)
        if name == "auc" and flat:
            row.append(degenerate_cell(b))
        else:  # a metric without a stored CI (ECE) shows none
            value, ci, _ = metric_formatters(name)
            row.append(Cell(value(v), sub=ci(m.ci_of(name)) if "ci" in metric_registry.get(name).roles else ""))
    row.append(Cell(sens_spec(m, "at_0.5"), sub=b.tr("results.youden_sub", value=sens_spec(m, "at_val_youden"))
                    if (m.binary or {}).get("at_val_youden") and not flat else ""))
    row.append(f"{res.best_epoch} / {res.epochs_run}")
    return row


def fig_labels(b: Builder) -> dict[str, str]:
    keys = ("epoch", "train", "val", "best_epoch", "true", "predicted", "fpr", "tpr", "chance", "wall_time",
            "trainable_params", "val_metric") + metric_registry.with_role("figure")
    labels = {k: b.tr(f"fig.{k}") for k in keys}
    labels.update({f"strategy.{s}": b.strategy_name(s) for s in STRATEGY_ORDER})
    labels.update({k: t(b.lang, f"training.fig.{k}") for k in ("accuracy", "lr", "boundary")})
    return labels


def shaded(b: Builder, cells: list[CellResult]) -> bool:
    """Whether a figure of these cells draws (and its caption explains) warm-up shading: their caption claims."""
    return any(outcome_of(b.description, caption_id("warmup", c.id)) == "shaded" for c in cells)


def epoch_series(c: CellResult) -> dict[str, Any]:
    ep = c.epochs
    sel = c.result.selection_metric
    metric = {"val_acc": "acc", "val_loss": "loss"}.get(sel, sel.removeprefix("val_"))
    train_metric = [getattr(r, f"train_{metric}", None) for r in ep]
    return {"epoch": [r.epoch for r in ep], "train_loss": [r.train_loss for r in ep],
            "val_loss": [r.val_loss for r in ep], "train_metric": train_metric,
            "val_metric": [getattr(r, f"val_{metric}", None) for r in ep],
            "train_acc": [r.train_acc for r in ep], "val_acc": [r.val_acc for r in ep],
            "metric": sel, "best_epoch": c.result.best_epoch, "strategy": c.cell.strategy,
            "boundary": warmup_boundary(c)}


def results(b: Builder) -> None:
    sec = b.section("results")
    sec.blocks.append(Paragraph(b.tr("results.intro")))
    header = [b.tr("col.backbone")] + [t(b.lang, metric_registry.get(k).label_key) for k in METRIC_COLS] + [b.tr("col.sens_spec"),
                                                                               b.tr("col.best_epoch")]
    multi_seed = len(b.seeds()) > 1
    published = baselines.matches(b.run)  # cell id → the published result for exactly its protocol
    noted = False
    for s in b.strategies():
        sec.blocks.append(Heading(b.strategy_name(s), f"sec-results-{slug(s)}"))
        sec.blocks.append(Paragraph(b.tr(f"strategy.{s}.desc")))
        for ds in b.datasets():
            rows, shown = [], []
            for bb in b.backbones():
                if not b.applies(ds, bb, s):
                    continue  # left out by design: listed once, with its reason, in the introduction
                for seed in b.seeds():
                    label = f"{b.bb_label(bb)} (seed {seed})" if multi_seed else b.bb_label(bb)
                    found = b.cells(dataset=ds, backbone=bb, strategy=s, seed=seed)
                    if found:
                        if b.is_collapsed(found[0]):
                            label = Cell(label, sub=b.tr("results.collapsed_tag"), cls="warn")
                        rows.append([label] + metric_row(b, found[0]))
                        shown.append(found[0])
                    else:
                        cid = next(iter(b.missing(dataset=ds, backbone=bb, strategy=s, seed=seed)), None)
                        rows.append([label, applicability.missing_cell(b, cid)] + [Cell("—", cls="na")] * 6)
                        shown.append(None)
            if not rows:
                continue  # this strategy applies to no backbone on this dataset
            matched = {c.id: published[c.id] for c in shown if c is not None and c.id in published}
            source = "cells/*/metrics.json (test), result.json"
            if matched:  # a column only where some cell has an exact published match (none: the table is unchanged)
                for row, c in zip(rows, shown, strict=True):
                    row.append(published_cell(b, matched[c.id]) if c is not None and c.id in matched else Cell(""))
                source += ", reportgen/published/baselines.toml"
            b.table(sec, f"metrics:{ds}:{s}", b.tr("cap.test_metrics", dataset=b.ds_label(ds),
                                                   strategy=b.strategy_name(s)),
                    header + [rt_b(b, "col.published")] if matched else header, rows, source=source)
            if matched:
                published_note(b, sec, [c for c in shown if c is not None and c.id in matched], matched)
            done = b.cells(dataset=ds, strategy=s)
            if any(degenerate(b, c) for c in done) and not noted:
                noted = True  # the ‡ explained once, under the first table that carries it (never a repeated paragraph)
                sec.blocks.append(Paragraph(t(b.lang, "claims.degenerate_mark")))
            if not done:
                continue
            for part in chunks(done):
                series = [epoch_series(c) for c in part]
                # The warm-up shading is explained only where a curve in the figure has a warm-up boundary.
                cap_key = "training.cap.curves" if shaded(b, part) else "claims.cap.curves"
                b.figure(sec, f"curves:{ds}:{s}:{part[0].id}",
                         t(b.lang, cap_key, cell=b.join(cell_label(b, c, multi_seed) for c in part),
                              strategy=b.strategy_name(s), dataset=b.ds_label(ds),
                              metric=b.join(dict.fromkeys(metric_label(b.lang, x["metric"]) for x in series))),
                         ("curves", {"series": series, "titles": [cell_label(b, c, multi_seed) for c in part],
                                     "labels": fig_labels(b)}),
                         source=", ".join(f"cells/{c.id}/epochs.csv" for c in part), wide=len(part) > 1)
            class_report(b, sec, done, multi_seed)
            b.figure(sec, f"cm:{ds}:{s}", b.tr("cap.confusion", dataset=b.ds_label(ds), strategy=b.strategy_name(s)),
                     ("confusion", {"panels": [{"title": cell_label(b, c, multi_seed),
                                                "cm": c.test.confusion_matrix,
                                                "cmn": c.test.confusion_matrix_normalized} for c in done],
                                    "classes": done[0].test.class_names, "labels": fig_labels(b)}),
                     source="cells/*/metrics.json confusion_matrix", wide=len(done) > 2)
    b.note(sec, "results")


def rt_b(b: Builder, key: str, **values: Any) -> str:
    """A string of the published-baselines catalog (``reportgen/i18n/baselines.*.json``)."""
    return t(b.lang, f"baselines.{key}", **values)


def published_cell(b: Builder, m: baselines.Match) -> Cell:
    """The published figure for one cell's exact protocol, with its source and configuration below."""
    r = m.row
    size = rt_b(b, "size", n=r.image_size) if r.image_size else rt_b(b, "any_size")
    return Cell(rt_b(b, "cell", acc=pct(r.values.get("acc")), auc=dec(r.values.get("auc"))),
                sub=rt_b(b, "cell_sub", source=r.source.short, backbone=b.bb_label(r.backbone), size=size,
                         strategy=b.strategy_name(r.strategy)))


def published_note(b: Builder, sec: Section, cells: list[CellResult], matched: dict[str, baselines.Match]) -> None:
    """Under a table with published figures: the matching and finding rules, each source cited, any subset."""
    sources = {m.row.source.key: m.row.source for m in matched.values()}
    parts = [rt_b(b, "note", below=f"{100 * baselines.FAR_BELOW:.0f}", above=f"{100 * baselines.ABOVE_CI_MARGIN:.0f}")]
    parts += [rt_b(b, "source", short=src.short, cite=src.cite, protocol=rt_b(b, f"protocol.{src.key}")) for src in sources.values()]
    for c in cells:
        sub = matched[c.id].subset
        if sub:
            parts.append(rt_b(b, "subset", cell=b.bb_label(c.cell.backbone), to_n=sub["to_n"], from_n=sub["from_n"]))
    sec.blocks.append(Paragraph(" ".join(dict.fromkeys(parts))))


def _mean(m: SplitMetrics, key: str) -> float | None:
    vals = [getattr(pc, key) for pc in m.per_class if getattr(pc, key) is not None]
    return sum(vals) / len(vals) if vals else None


def _wmean(m: SplitMetrics, key: str) -> float | None:
    pcs = [pc for pc in m.per_class if getattr(pc, key) is not None and pc.support]
    total = sum(pc.support for pc in pcs)
    return sum(getattr(pc, key) * pc.support for pc in pcs) / total if total else None


def class_report(b: Builder, sec: Section, cells: list[CellResult], multi_seed: bool) -> None:
    """The classification reports of one (dataset, strategy) as one table, a group of rows per run."""
    ds, s = cells[0].cell.dataset, cells[0].cell.strategy
    rows: list[list[Any]] = []
    for c in cells:
        who = cell_label(b, c, multi_seed)
        m = c.test
        # Wilson 95 % intervals under precision and recall on every class row: with a few test images per
        # class (a rare grade, COVID-19 at 1 %) the interval is what tells a real difference from noise.
        group: list[list[Any]] = [[pc.name, Cell(pct(pc.precision), sub=pct_ci(pc.precision_ci)),
                                   Cell(pct(pc.recall), sub=pct_ci(pc.recall_ci)), pct(pc.f1), count(pc.support)]
                                  for pc in m.per_class]
        group.append([Cell(b.tr("col.macro_avg"), cls="sum"), pct(_mean(m, "precision")), pct(_mean(m, "recall")),
                      pct(m.macro_f1), count(m.n)])
        group.append([Cell(b.tr("col.weighted_avg"), cls="sum"), pct(_wmean(m, "precision")),
                      pct(_wmean(m, "recall")), pct(m.weighted_f1), count(m.n)])
        rows += [[Cell(who, cls="group") if i == 0 else Cell("", cls="cont")] + r for i, r in enumerate(group)]
    b.table(sec, f"report:{ds}:{s}", b.tr("cap.class_report", cell=b.join(cell_label(b, c, multi_seed) for c in cells),
                                           strategy=b.strategy_name(s), dataset=b.ds_label(ds))
            + rt(b, "cap.class_report_ci"),
            [b.tr("col.backbone"), b.tr("col.class"), b.tr("col.precision"), b.tr("col.recall"), b.tr("col.f1"),
             b.tr("col.support")],
            rows, source=", ".join(f"cells/{c.id}/metrics.json per_class" for c in cells), numeric_from=2)


__all__ = ["degenerate", "degenerate_cell", "epoch_series", "fig_labels", "metric_row", "plain", "results", "rt",
           "shaded", "warmup_boundary"]
