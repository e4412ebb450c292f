"""Paste-ready tables: the comparison pivot, every cell's test metrics with 95 % CIs, and the cost table.

Numbers are formatted by the report's own formatters, so a pasted table says exactly what the
report says. :mod:`formats` writes each table as CSV (formatted text *and* the exact stored value),
Markdown and LaTeX (booktabs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..i18n import t

# The report's number formatters: tables show every number exactly as the report does.
from ..report.format import dec, dec_ci, macs, megabytes, params, pct, pct_ci, seconds
from .records import CellRecord, RunRecord

PIVOT_METRICS = ("accuracy", "macro_f1", "auc")


@dataclass(frozen=True)
class Column:
    key: str                 # machine name: the CSV header stem
    label: str               # header text in Markdown / LaTeX
    group: str = ""          # spanning header above (LaTeX \multicolumn; Markdown prefixes it)
    numeric: bool = False    # right-aligned; CSV also carries the exact value
    exact: bool = False      # CSV carries ``<key>_value`` (the stored value) next to the text
    ci: bool = False         # CSV carries ``<key>_ci``, ``_ci_lo``, ``_ci_hi``
    paste: bool = True       # shown in Markdown / LaTeX (False: CSV only, e.g. the long cell id)


@dataclass(frozen=True)
class Entry:
    text: str
    value: Any = None
    ci: tuple[float, float] | None = None
    ci_text: str = ""

    def shown(self) -> str:
        """The text a pasted table shows: the value, then its CI in parentheses."""
        return f"{self.text} ({self.ci_text})" if self.ci_text and self.ci_text != "n/a" else self.text


@dataclass
class Table:
    name: str                # file stem: comparison, metrics, cost
    caption: str
    source: str              # the store files the numbers come from
    columns: list[Column]
    rows: list[list[Entry]] = field(default_factory=list)


def _fmt(metric: str, v: float | None) -> str:
    return dec(v) if metric in ("auc", "ece") else pct(v)


def _fmt_ci(metric: str, ci: tuple[float, float] | None) -> str:
    return dec_ci(ci) if metric in ("auc", "ece") else pct_ci(ci)


def _metric_label(lang: str, metric: str) -> str:
    return t(lang, f"report.col.{metric}")


def _strategy(lang: str, s: str) -> str:
    try:
        return t(lang, f"report.strategy.{s}.name")
    except KeyError:
        return s


def _id_columns(lang: str, *, seeds: bool) -> list[Column]:
    cols = [Column("cell_id", "cell id", paste=False),
            Column("dataset", t(lang, "export.col.dataset")),
            Column("backbone", t(lang, "report.col.backbone")),
            Column("strategy", t(lang, "report.col.strategy"), exact=True)]
    if seeds:
        cols.append(Column("seed", t(lang, "export.col.seed"), numeric=True))
    return cols


def _id_entries(lang: str, c: CellRecord, *, seeds: bool) -> list[Entry]:
    row = [Entry(c.id), Entry(c.dataset), Entry(c.backbone), Entry(_strategy(lang, c.strategy), value=c.strategy)]
    if seeds:
        row.append(Entry(str(c.seed), value=c.seed))
    return row


def comparison_table(run: RunRecord, lang: str) -> Table:
    """Dataset × backbone (× seed when there are several) rows, a column group per strategy."""
    strategies = run.ordered("strategy")
    multi_seed = len(run.ordered("seed")) > 1
    cols = [Column("dataset", t(lang, "export.col.dataset")), Column("backbone", t(lang, "report.col.backbone"))]
    if multi_seed:
        cols.append(Column("seed", t(lang, "export.col.seed"), numeric=True))
    for s in strategies:
        cols += [Column(f"{s}_{m}", _metric_label(lang, m), group=_strategy(lang, s), numeric=True, exact=True)
                 for m in PIVOT_METRICS]
    table = Table("comparison", t(lang, "export.cap.comparison"), "cells/*/metrics.json (test)", cols)
    by_key = {(c.dataset, c.backbone, c.seed, c.strategy): c for c in run.cells}
    not_run = t(lang, "report.ui.not_run")
    for ds in run.ordered("dataset"):
        for bb in run.ordered("backbone"):
            for seed in run.ordered("seed"):
                found = [by_key.get((ds, bb, seed, s)) for s in strategies]
                if not any(found):
                    continue
                row = [Entry(ds), Entry(bb)] + ([Entry(str(seed), value=seed)] if multi_seed else [])
                for c in found:
                    row += [Entry(_fmt(m, c.test[m]), value=c.test[m]) if c else Entry(not_run)
                            for m in PIVOT_METRICS]
                table.rows.append(row)
    return table


def metrics_table(run: RunRecord, lang: str) -> Table:
    """One row per cell: test metrics with their 95 % bootstrap CIs, and best / run epochs."""
    seeds = len(run.ordered("seed")) > 1
    cols = _id_columns(lang, seeds=seeds)
    for m in ("accuracy", "balanced_accuracy", "macro_f1", "auc"):
        cols.append(Column(m, _metric_label(lang, m), numeric=True, exact=True, ci=True))
    cols += [Column("ece", _metric_label(lang, "ece"), numeric=True, exact=True),
             Column("epochs", t(lang, "report.col.best_epoch"), numeric=True)]
    table = Table("metrics", t(lang, "export.cap.metrics"), "cells/*/metrics.json (test), result.json", cols)
    for c in run.cells:
        row = _id_entries(lang, c, seeds=seeds)
        for m in ("accuracy", "balanced_accuracy", "macro_f1", "auc"):
            ci = c.test_ci[m]
            row.append(Entry(_fmt(m, c.test[m]), value=c.test[m], ci=ci, ci_text=_fmt_ci(m, ci)))
        row.append(Entry(dec(c.test["ece"]), value=c.test["ece"]))
        best = "n/a" if c.best_epoch is None else str(c.best_epoch)
        row.append(Entry(f"{best} / {c.epochs_run}"))
        table.rows.append(row)
    return table


def cost_table(run: RunRecord, lang: str) -> Table:
    """One row per cell: parameters, MACs, training and wall time, peak memory, epochs run."""
    seeds = len(run.ordered("seed")) > 1
    cols = _id_columns(lang, seeds=seeds) + [
        Column("params_total", t(lang, "report.col.params_total"), numeric=True, exact=True),
        Column("params_trainable", t(lang, "report.col.params_trainable"), numeric=True, exact=True),
        Column("macs", t(lang, "report.col.macs"), numeric=True, exact=True),
        Column("train_time_s", t(lang, "export.col.train_time"), numeric=True, exact=True),
        Column("wall_time_s", t(lang, "report.col.wall_time"), numeric=True, exact=True),
        Column("peak_mem_mb", t(lang, "report.col.peak_mem"), numeric=True, exact=True),
        Column("epochs_run", t(lang, "export.col.epochs"), numeric=True, exact=True)]
    table = Table("cost", t(lang, "export.cap.cost"), "cells/*/result.json, arch.json", cols)
    for c in run.cells:
        table.rows.append(_id_entries(lang, c, seeds=seeds) + [
            Entry(params(c.params_total), value=c.params_total),
            Entry(params(c.params_trainable), value=c.params_trainable),
            Entry(macs(c.macs), value=c.macs),
            Entry(seconds(c.train_time_s), value=c.train_time_s),
            Entry(seconds(c.wall_time_s), value=c.wall_time_s),
            Entry(megabytes(c.peak_mem_mb), value=c.peak_mem_mb),
            Entry(str(c.epochs_run), value=c.epochs_run)])
    return table


def build_tables(run: RunRecord, lang: str = "en") -> list[Table]:
    return [comparison_table(run, lang), metrics_table(run, lang), cost_table(run, lang)]

