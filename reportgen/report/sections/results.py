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
from ..builder import MAX_COLUMNS, STRATEGY_ORDER, Builder, slug
from ..format import NA, count, dec, metric_formatters, pct, pct_ci, plain
from ..model import BulletList, Cell, Heading, Paragraph, Section
from ..prose import metric_label
from . import percell, seeded

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
    labels.update({f"metric.{m}": metric_label(b.lang, m) for m in ("val_auc", "val_macro_f1", "val_acc", "val_loss")})
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
    """Per strategy (or, compact, per dataset across strategies): metrics, curves, class report, confusion.

    With several seeds a row, a curve panel and a confusion panel stand for one backbone (configuration)
    over its seeds (:mod:`.seeded`); the per-seed rows go to the per-run appendix (:mod:`.percell`). The
    compact layout (the brief report, or one row per strategy) puts every strategy of a dataset in one table
    and one figure of each kind, instead of a page per one-panel figure; the per-strategy refs name them."""
    sec = b.section("results")
    intro = (seeded.st(b, "intro.seeds") if seeded.seeded(b) else seeded.st(b, "intro.compact") if compact(b)
             else b.tr("results.intro"))
    sec.blocks.append(Paragraph(intro))
    state = {"noted": False}
    if compact(b):
        for ds in b.datasets():
            _dataset_block(b, sec, ds, state)
    else:
        for s in b.strategies():
            sec.blocks.append(Heading(b.strategy_name(s), f"sec-results-{slug(s)}"))
            sec.blocks.append(Paragraph(b.tr(f"strategy.{s}.desc")))
            for ds in b.datasets():
                _block(b, sec, ds, [s], state)
    b.note(sec, "results")


def compact(b: Builder) -> bool:
    """Every strategy of a dataset in one table and one figure of each kind: in the brief report, and
    wherever each strategy would get a single row (one backbone: three one-panel figures, a page each)."""
    if b.detail == "brief":
        return True
    return len(b.strategies()) > 1 and all(len(seeded.units(b, ds, s)) <= 1
                                           for ds in b.datasets() for s in b.strategies())


def _dataset_block(b: Builder, sec: Section, ds: str, state: dict[str, bool]) -> None:
    strategies = [s for s in b.strategies() if seeded.units(b, ds, s)]
    if not strategies:
        return
    if len(b.datasets()) > 1:
        sec.blocks.append(Heading(b.ds_label(ds), f"sec-results-{slug(ds)}"))
    # Each description named by its strategy: three run-together descriptions do not say which is which.
    sec.blocks.append(BulletList([b.labelled(b.strategy_name(s), b.tr(f"strategy.{s}.desc")) for s in strategies]))
    _block(b, sec, ds, strategies, state)


def _block(b: Builder, sec: Section, ds: str, strategies: list[str], state: dict[str, bool]) -> None:
    """The metrics table, curves, class report and confusion matrices of ``strategies`` on ``ds``."""
    across = len(strategies) > 1 or compact(b)  # a table across strategies: a strategy column, panels named by it
    many = seeded.seeded(b)
    header = ([b.tr("col.strategy")] if across else []) + [b.tr("col.backbone")] + [
        t(b.lang, metric_registry.get(k).label_key) for k in METRIC_COLS] + [b.tr("col.sens_spec"),
                                                                              b.tr("col.best_epoch")]
    published = baselines.matches(b.run)  # cell id → the published result for exactly its protocol
    rows, shown, units = [], [], []
    for s in strategies:
        for u in seeded.units(b, ds, s):
            lead: list[Any] = [b.strategy_name(s)] if across else []
            units.append(u)
            if not u.cells:
                rows.append(lead + [seeded.label(b, u), applicability.missing_cell(b, next(iter(u.missing), None))]
                            + [Cell("—", cls="na")] * 6)
                shown.append(None)
                continue
            if many:
                name = Cell(seeded.label(b, u), sub=seeded.seed_sub(b, u),
                            cls="warn" if any(b.is_collapsed(c) for c in u.cells) else "")
                flat = degenerate_cell(b) if any(degenerate(b, c) for c in u.cells) else None
                rows.append(lead + [name] + seeded.summary_row(b, u, flat))
                shown.append(None)  # published figures are per run: beside the per-seed rows
                continue
            c = u.cells[0]
            name = Cell(b.bb_label(c.cell.backbone), sub=b.tr("results.collapsed_tag"), cls="warn") \
                if b.is_collapsed(c) else b.bb_label(c.cell.backbone)
            rows.append(lead + [name] + metric_row(b, c))
            shown.append(c)
    if not rows:
        return  # no strategy applies to any backbone on this dataset
    matched = {c.id: published[c.id] for c in shown if c is not None and c.id in published}
    source = "cells/*/metrics.json (test), result.json" + (", " + seeds_src if (seeds_src := _seeds_source(many)) else "")
    if matched:  # a column only where some cell has an exact published match (none: the table is unchanged)
        for row, c in zip(rows, shown, strict=True):
            row.append(published_cell(b, matched[c.id]) if c is not None and c.id in matched else Cell(""))
        source += ", reportgen/published/baselines.toml"
    ref = f"metrics:{ds}" if across else f"metrics:{ds}:{strategies[0]}"
    if many:
        caption = (seeded.st(b, "cap.metrics_all_seeds", dataset=b.ds_label(ds)) if across
                   else seeded.st(b, "cap.metrics_seeds", dataset=b.ds_label(ds), strategy=b.strategy_name(strategies[0])))
    else:
        caption = (seeded.st(b, "cap.metrics_all", dataset=b.ds_label(ds)) if across
                   else b.tr("cap.test_metrics", dataset=b.ds_label(ds), strategy=b.strategy_name(strategies[0])))
    b.table(sec, ref, caption, header + [rt_b(b, "col.published")] if matched else header, rows, source=source)
    _aliases(b, "metrics", ds, strategies, ref)
    if matched:
        published_note(b, sec, [c for c in shown if c is not None and c.id in matched], matched)
    done = [c for u in units for c in u.cells]
    if any(degenerate(b, c) for c in done) and not state["noted"]:
        state["noted"] = True  # the ‡ explained once, under the first table that carries it (never a repeated paragraph)
        sec.blocks.append(Paragraph(t(b.lang, "claims.degenerate_mark")))
    if many:
        per_seed_rows(b, sec, ds, strategies, units, across)
    live = [u for u in units if u.cells]
    if not live:
        return
    _curves(b, sec, ds, strategies, live, across, many)
    class_report(b, sec, ds, strategies, live, across, many)
    _confusion(b, sec, ds, strategies, live, across, many)


def _seeds_source(many: bool) -> str:
    return "analysis/seeds.json (mean ± sd over seeds)" if many else ""


def _aliases(b: Builder, kind: str, ds: str, strategies: list[str], ref: str) -> None:
    """The per-strategy refs (``metrics:<ds>:<strategy>``) name the table or figure across strategies."""
    for s in strategies:
        key = f"{kind}:{ds}:{s}"
        if key != ref:
            b.alias(key, ref)


def _title(b: Builder, u: seeded.Unit, across: bool, one_backbone: bool) -> str:
    if across and one_backbone:
        return b.strategy_name(u.strategy)
    return seeded.label(b, u, strategy=across)


def _curves(b: Builder, sec: Section, ds: str, strategies: list[str], live: list[seeded.Unit], across: bool,
            many: bool) -> None:
    """One panel per unit (several seeds: overlaid in it), at most MAX_COLUMNS panels a figure."""
    one_bb = len({u.backbone for u in live}) == 1
    for i in range(0, len(live), MAX_COLUMNS):
        part = live[i:i + MAX_COLUMNS]
        cells = [c for u in part for c in u.cells]
        titles = [_title(b, u, across, one_bb) for u in part]
        names = b.join(dict.fromkeys(b.bb_label(u.backbone) for u in part))
        strategy = b.join(dict.fromkeys(b.strategy_name(u.strategy) for u in part))
        ref = f"curves:{ds}:{part[0].strategy if not across else 'all'}:{part[0].cells[0].id}"
        if many:
            series = [[epoch_series(c) for c in u.cells] for u in part]
            metric = b.join(dict.fromkeys(metric_label(b.lang, x["metric"]) for g in series for x in g))
            b.figure(sec, ref, seeded.st(b, "cap.curves_seeds", cell=names, strategy=strategy, dataset=b.ds_label(ds),
                                         metric=metric, n=max(len(u.cells) for u in part)),
                     ("overlay", {"series": series, "titles": titles, "labels": fig_labels(b)}),
                     source="cells/*/epochs.csv", wide=len(part) > 1)
            continue
        series = [epoch_series(c) for c in cells]
        # The warm-up shading is explained only where a curve in the figure has a warm-up boundary (its caption claim).
        cap_key = "training.cap.curves" if shaded(b, cells) else "claims.cap.curves"
        b.figure(sec, ref, t(b.lang, cap_key, cell=names, strategy=strategy, dataset=b.ds_label(ds),
                             metric=b.join(dict.fromkeys(metric_label(b.lang, x["metric"]) for x in series))),
                 ("curves", {"series": series, "titles": titles, "labels": fig_labels(b)}),
                 source=", ".join(f"cells/{c.id}/epochs.csv" for c in cells), wide=len(part) > 1)


def _confusion(b: Builder, sec: Section, ds: str, strategies: list[str], live: list[seeded.Unit], across: bool,
               many: bool) -> None:
    """One panel per unit; with several seeds the counts are the sum of the seeds' stored matrices."""
    one_bb = len({u.backbone for u in live}) == 1
    panels = []
    for u in live:
        cm = seeded.pooled_confusion(u.cells) if many else u.cells[0].test.confusion_matrix
        cmn = seeded.row_shares(cm) if many else u.cells[0].test.confusion_matrix_normalized
        panels.append({"title": _title(b, u, across, one_bb), "cm": cm, "cmn": cmn})
    strategy = b.join(b.strategy_name(s) for s in strategies)
    caption = b.tr("cap.confusion", dataset=b.ds_label(ds), strategy=strategy)
    if many:
        caption += seeded.st(b, "cap.pooled", n=max(len(u.cells) for u in live))
    ref = f"cm:{ds}" if across else f"cm:{ds}:{strategies[0]}"
    for i in range(0, len(panels), MAX_COLUMNS):  # at most MAX_COLUMNS panels a figure, legible on A4
        part = panels[i:i + MAX_COLUMNS]
        b.figure(sec, ref + (f":{i // MAX_COLUMNS}" if i else ""), caption,
                 ("confusion", {"panels": part, "classes": live[0].cells[0].test.class_names,
                                "labels": fig_labels(b)}),
                 source="cells/*/metrics.json confusion_matrix" + (" (summed over seeds)" if many else ""),
                 wide=len(part) > 2)
    _aliases(b, "cm", ds, strategies, ref)


def per_seed_rows(b: Builder, sec: Section, ds: str, strategies: list[str], units: list[seeded.Unit],
                  across: bool) -> None:
    """Every seed's test metrics, as stored: in the per-run appendix (the brief report: left out, said where)."""
    cells = [c for u in units for c in u.cells]
    if not cells:
        return
    header = ([b.tr("col.strategy")] if across else []) + [b.tr("col.backbone")] + [
        t(b.lang, metric_registry.get(k).label_key) for k in METRIC_COLS] + [b.tr("col.sens_spec"),
                                                                              b.tr("col.best_epoch")]
    ref = f"seedruns:{ds}" if across else f"seedruns:{ds}:{strategies[0]}"
    strategy = b.join(b.strategy_name(s) for s in strategies)

    published = baselines.matches(b.run)  # a published figure belongs to a run: shown beside its own row
    matched = {c.id: published[c.id] for c in cells if c.id in published}

    def build(where: Section) -> None:
        rows = []
        for c in cells:
            name = f"{b.bb_label(c.cell.backbone)} (seed {c.cell.seed})"
            lead = [b.strategy_name(c.cell.strategy)] if across else []
            rows.append(lead + [Cell(name, sub=b.tr("results.collapsed_tag"), cls="warn") if b.is_collapsed(c)
                                else name] + metric_row(b, c)
                        + ([published_cell(b, matched[c.id]) if c.id in matched else Cell("")] if matched else []))
        b.table(where, ref, seeded.st(b, "cap.per_seed", dataset=b.ds_label(ds), strategy=strategy),
                header + ([rt_b(b, "col.published")] if matched else []), rows,
                source="cells/*/metrics.json (test), result.json"
                + (", reportgen/published/baselines.toml" if matched else ""))
        if matched:
            published_note(b, where, [c for c in cells if c.id in matched], matched)

    percell.place(b, sec, ref, build, rows=len(cells), force=True,
                  what=seeded.st(b, "what.per_seed", strategy=strategy), files="cells/*/metrics.json")


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


def class_report(b: Builder, sec: Section, ds: str, strategies: list[str], live: list[seeded.Unit],
                 across: bool, many: bool) -> None:
    """The classification reports of (``ds``, ``strategies``) as one table, a group of rows per unit
    (several seeds: mean ± sd over them)."""
    one_bb = len({u.backbone for u in live}) == 1
    rows: list[list[Any]] = []
    for u in live:
        who = _title(b, u, across, one_bb)
        if many:
            group = seeded.class_rows(b, u, {"col.macro_avg": _mean, "col.weighted_avg": _wmean})
        else:
            group = _class_rows(b, u.cells[0].test)
        rows += [[Cell(who, cls="group") if i == 0 else Cell("", cls="cont")] + r for i, r in enumerate(group)]
    ref = f"report:{ds}" if across else f"report:{ds}:{strategies[0]}"
    caption = b.tr("cap.class_report", cell=b.join(dict.fromkeys(b.bb_label(u.backbone) for u in live)),
                   strategy=b.join(b.strategy_name(s) for s in strategies), dataset=b.ds_label(ds))
    caption += seeded.st(b, "cap.class_mean") if many else rt(b, "cap.class_report_ci")
    b.table(sec, ref, caption,
            [b.tr("col.strategy" if across and one_bb else "col.backbone"), b.tr("col.class"), b.tr("col.precision"),
             b.tr("col.recall"), b.tr("col.f1"),
             b.tr("col.support")],
            rows, source="cells/*/metrics.json per_class (every seed)" if many
            else ", ".join(f"cells/{u.cells[0].id}/metrics.json per_class" for u in live), numeric_from=2)
    _aliases(b, "report", ds, strategies, ref)


def _class_rows(b: Builder, m: SplitMetrics) -> list[list[Any]]:
    # Wilson 95 % intervals under precision and recall on every class row: with a few test images per
    # class (a rare grade, COVID-19 at 1 %) the interval is what tells a real difference from noise.
    group: list[list[Any]] = [[pc.name, Cell(pct(pc.precision), sub=pct_ci(pc.precision_ci)),
                               Cell(pct(pc.recall), sub=pct_ci(pc.recall_ci)), pct(pc.f1), count(pc.support)]
                              for pc in m.per_class]
    group.append([Cell(b.tr("col.macro_avg"), cls="sum"), pct(_mean(m, "precision")), pct(_mean(m, "recall")),
                  pct(m.macro_f1), count(m.n)])
    group.append([Cell(b.tr("col.weighted_avg"), cls="sum"), pct(_wmean(m, "precision")),
                  pct(_wmean(m, "recall")), pct(m.weighted_f1), count(m.n)])
    return group


__all__ = ["degenerate", "degenerate_cell", "epoch_series", "fig_labels", "metric_row", "plain", "results", "rt",
           "shaded", "warmup_boundary"]
