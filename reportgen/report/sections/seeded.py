"""Results that scale with seeds: one row, one curve panel and one confusion panel per configuration.

A (dataset, strategy) with several seeds of a backbone is shown as the description's seed summary
(:mod:`reportgen.describe.seeds`: one :class:`SeedSummary` per resolved configuration): the headline metrics
are its mean ± sd, every other column is summarised by the same function (``describe.metrics.mean_sd``) over
the same cells, so the table grows with backbones × strategies, never with seeds. The per-seed rows go to the
per-run appendix (:mod:`.percell`). Confusion counts are pooled: the sum over seeds of the stored matrices
(every seed tests on the same images), and the caption says so. Torch-free, reads only the loaded store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...describe.metrics import mean_sd
from ...describe.model import SeedSummary
from ...i18n import t
from ...registry import metrics as metric_registry
from ...store import CellResult
from ..builder import Builder
from ..format import NA, count, metric_formatters, pct
from ..model import Cell

METRIC_COLS = metric_registry.TABLE


def st(b: Builder, key: str, **values: Any) -> str:
    """A string of the scale catalog (``reportgen/i18n/scale.*.json``)."""
    return t(b.lang, f"scale.{key}", **values)


@dataclass
class Unit:
    """One row of a results table: one backbone (one resolved configuration) of one (dataset, strategy).

    ``cells``: its finished cells (one per seed); ``summary``: the description's seed summary when the report
    summarises seeds; ``missing``: planned cell ids of this backbone × strategy not finished."""

    dataset: str
    backbone: str
    strategy: str
    cells: list[CellResult]
    summary: SeedSummary | None = None
    missing: list[str] = field(default_factory=list)


def seeded(b: Builder) -> bool:
    """Whether the report summarises seeds (several seeds planned or found)."""
    return len(b.seeds()) > 1


def units(b: Builder, ds: str, s: str) -> list[Unit]:
    """The rows of (``ds``, ``s``) in backbone order: per cell with one seed, per seed summary with several."""
    out: list[Unit] = []
    if not b.seeds():
        return out  # nothing planned, nothing found
    by_id = {c.id: c for c in b.run.cells}
    for bb in b.backbones():
        if not b.applies(ds, bb, s):
            continue  # left out by design: listed once, with its reason, in the introduction
        missing = b.missing(dataset=ds, backbone=bb, strategy=s)
        if not seeded(b):
            found = b.cells(dataset=ds, backbone=bb, strategy=s, seed=b.seeds()[0])
            out.append(Unit(ds, bb, s, found[:1], missing=[] if found else missing[:1]))
            continue
        rows = [r for r in b.description.seeds if (r.dataset, r.backbone, r.strategy) == (ds, bb, s)]
        for r in rows:
            out.append(Unit(ds, bb, s, [by_id[cid] for cid in r.cells if cid in by_id], summary=r, missing=missing))
            missing = []  # said once, under the first configuration
        if not rows:
            out.append(Unit(ds, bb, s, [], missing=missing))
    return out


def label(b: Builder, u: Unit, *, strategy: bool = False) -> str:
    """A unit's name in a panel title or a row group: backbone (and strategy, in a table across strategies)."""
    name = b.bb_label(u.backbone)
    return f"{b.strategy_name(u.strategy)} · {name}" if strategy else name


def seed_sub(b: Builder, u: Unit) -> str:
    """Under a summary row's name: how many seeds it pools (and any unfinished, and what sets it apart)."""
    parts = [st(b, "n_seeds.one" if len(u.cells) == 1 else "n_seeds.other", n=len(u.cells))]
    if u.missing:
        parts.append(st(b, "unfinished", n=len(u.missing)))
    if u.summary is not None and u.summary.differs:
        parts.append(", ".join(f"{k} = {v}" for k, v in u.summary.differs.items()))
    return "; ".join(parts)


def _ms_text(name: str, ms: dict[str, Any]) -> Cell:
    value = metric_formatters(name)[0]
    return Cell(value(ms["mean"]), sub=f"± {value(ms['sd'])}" if ms.get("sd") is not None else "")


def _spread(name: str, u: Unit) -> dict[str, Any]:
    """Mean ± sd of one test metric over the unit's seeds: the seed summary's where it has the metric."""
    if u.summary is not None and name in metric_registry.HEADLINE:
        return getattr(u.summary, name).model_dump()
    return mean_sd([getattr(c.test, name) for c in u.cells])


def summary_row(b: Builder, u: Unit, flat: Cell | None = None) -> list[Any]:
    """The metric columns of a results table for one unit of several seeds: mean ± sd over its seeds.

    ``flat``: the mark shown instead of the AUC when a seed's test scores are degenerate (its AUC is float
    noise, so no mean over it is credited; the per-seed rows show which)."""
    row: list[Any] = [flat if name == "auc" and flat is not None else _ms_text(name, _spread(name, u))
                      for name in METRIC_COLS]
    sens = mean_sd([(c.test.binary or {}).get("at_0.5").sensitivity if (c.test.binary or {}).get("at_0.5")
                    else None for c in u.cells])
    spec = mean_sd([(c.test.binary or {}).get("at_0.5").specificity if (c.test.binary or {}).get("at_0.5")
                    else None for c in u.cells])
    row.append(f"{pct(sens['mean'])} / {pct(spec['mean'])}" if sens["n"] else NA)
    best = [c.result.best_epoch for c in u.cells]
    ran = max(c.result.epochs_run for c in u.cells)
    row.append(f"{min(best)}–{max(best)} / {ran}" if min(best) != max(best) else f"{best[0]} / {ran}")
    return row


def pooled_confusion(cells: list[CellResult]) -> list[list[int]]:
    """The element-wise sum of the cells' stored test confusion matrices (every seed tests on the same images)."""
    first = cells[0].test.confusion_matrix
    return [[sum(c.test.confusion_matrix[i][j] for c in cells) for j in range(len(first[i]))]
            for i in range(len(first))]


def row_shares(cm: list[list[int]]) -> list[list[float]]:
    """Each row of a count matrix as shares of its total (the colour of a confusion panel)."""
    return [[v / sum(row) if sum(row) else 0.0 for v in row] for row in cm]


def class_rows(b: Builder, u: Unit, averages: dict[str, Any]) -> list[list[Any]]:
    """A unit's classification report as mean ± sd over seeds: precision, recall, F1 per class, the averages.

    ``averages``: ``{"col.macro_avg": fn, "col.weighted_avg": fn}``, the results table's own averaging of one
    run's per-class precision or recall (``fn(metrics, key)``), here averaged over the seeds."""
    first = u.cells[0].test
    rows: list[list[Any]] = []
    for k, pc in enumerate(first.per_class):
        cols: list[Any] = [pc.name]
        for key in ("precision", "recall", "f1"):
            cols.append(_ms_text("macro_f1", mean_sd([getattr(c.test.per_class[k], key) for c in u.cells])))
        supports = sorted({c.test.per_class[k].support for c in u.cells})
        cols.append(count(supports[0]) if len(supports) == 1 else f"{count(supports[0])}–{count(supports[-1])}")
        rows.append(cols)
    for key, metric in (("col.macro_avg", "macro_f1"), ("col.weighted_avg", "weighted_f1")):
        avg = averages[key]
        rows.append([Cell(b.tr(key), cls="sum")]
                    + [_ms_text("macro_f1", mean_sd([avg(c.test, k) for c in u.cells])) for k in ("precision", "recall")]
                    + [_ms_text("macro_f1", mean_sd([getattr(c.test, metric) for c in u.cells])), count(first.n)])
    return rows


__all__ = ["Unit", "class_rows", "label", "pooled_confusion", "row_shares", "seed_sub", "seeded", "st",
           "summary_row", "units"]
