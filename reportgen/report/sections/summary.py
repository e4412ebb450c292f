"""The summary table the HW4 lab reports end with: per dataset, every backbone × strategy in one place.

One row per planned run (per seed when there are several): the weights' published ImageNet acc@1, total
and trainable parameters and MACs as counted on the model as trained (arch.json, written at training time
by models/stats.py with fvcore), and the test accuracy, macro-F1 and AUC (metrics.json). A run that failed
or has not run is marked as such; a combination left out by design is not a row (the introduction lists
it once, with its reason). Numbers are formatted by the same functions as everywhere else in the report,
so each equals the value in the table that introduced it.
"""

from __future__ import annotations

from typing import Any

from ...registry import metrics as metric_registry
from .. import applicability
from ..builder import Builder, slug
from ..format import NA, dec, macs, metric_formatters, params, pct
from ..model import Cell, Heading, Paragraph, Section
from . import percell
from .results import rt
from .seeded import st


def tr(b: Builder, key: str, **values: Any) -> str:
    return applicability.tr(b, key, **values)


def _acc1(b: Builder, c: Any) -> str | Cell:
    if c.arch.imagenet is None:  # random initial weights: no ImageNet accuracy belongs to this run
        return Cell(tr(b, "no_weights"), cls="na")
    acc1 = c.arch.imagenet.get("acc1")
    return NA if acc1 is None else f"{float(acc1):.1f}"


def summary(b: Builder) -> None:
    sec = b.section("summary")
    intro = [tr(b, "summary_intro")] + ([tr(b, "summary_missing")] if b.run.missing else [])
    sec.blocks.append(Paragraph(("" if b.lang.startswith("zh") else " ").join(intro)))
    multi_seed = len(b.seeds()) > 1
    header = [b.tr("col.backbone"), b.tr("col.strategy")] + ([rt(b, "col.seed")] if multi_seed else []) + [
        tr(b, f"col.{k}") for k in ("imagenet_acc1", "params_total", "params_trainable", "macs", "test_accuracy",
                                    "test_macro_f1", "test_auc")]
    for ds in b.datasets():
        if len(b.datasets()) > 1:
            sec.blocks.append(Heading(b.ds_label(ds), f"sec-summary-{slug(ds)}"))
        rows: list[list[Any]] = []
        for bb in b.backbones():
            for s in b.strategies():
                if not b.applies(ds, bb, s):
                    continue
                for seed in b.seeds():
                    row: list[Any] = [b.bb_label(bb), b.strategy_name(s)] + ([str(seed)] if multi_seed else [])
                    found = b.cells(dataset=ds, backbone=bb, strategy=s, seed=seed)
                    if not found:
                        cid = next(iter(b.missing(dataset=ds, backbone=bb, strategy=s, seed=seed)), None)
                        rows.append(row + [applicability.missing_cell(b, cid)] + [Cell("—", cls="na")] * 6)
                        continue
                    c = found[0]
                    m = c.test
                    acc = pct(m.accuracy) + (" †" if b.is_collapsed(c) else "")
                    rows.append(row + [_acc1(b, c), params(c.arch.params_total), params(c.arch.params_trainable),
                                       macs(c.arch.macs), acc, pct(m.macro_f1), dec(m.auc)])
        if not rows:
            continue
        if multi_seed and percell.long(len(rows)):  # hundreds of runs: a row per backbone × strategy over seeds
            _seed_summary(b, sec, ds, header)
            ref, cap = f"summary-runs:{ds}", tr(b, "cap.summary", dataset=b.ds_label(ds))
        else:
            ref, cap = f"summary:{ds}", tr(b, "cap.summary", dataset=b.ds_label(ds))

        def build(where: Section, ref: str = ref, cap: str = cap, rows: list[list[Any]] = rows) -> None:
            b.table(where, ref, cap, header, rows, source="cells/*/arch.json, cells/*/metrics.json (test)",
                    numeric_from=3 if multi_seed else 2)

        percell.place(b, sec, ref, build, rows=len(rows), what=st(b, "what.summary"),
                      files="cells/*/arch.json, cells/*/metrics.json")


def _seed_summary(b: Builder, sec: Section, ds: str, header: list[str]) -> None:
    """Per backbone × strategy over its seeds: the size of the model (the same for every seed) and the mean ±
    sd of the test scores (the description's seed summary)."""
    by_id = {c.id: c for c in b.run.cells}
    rows: list[list[Any]] = []
    for r in b.description.seeds:
        if r.dataset != ds or not r.cells or r.cells[0] not in by_id:
            continue
        c = by_id[r.cells[0]]
        scores = []
        for name in metric_registry.COMPARED:  # the test accuracy, macro-F1 and AUC of the summary's columns
            ms = getattr(r, name)
            fmt = metric_formatters(name)[0]
            scores.append(Cell(fmt(ms.mean), sub=f"± {fmt(ms.sd)}" if ms.sd is not None else ""))
        rows.append([b.bb_label(r.backbone), b.strategy_name(r.strategy), str(r.n), _acc1(b, c),
                     params(c.arch.params_total), params(c.arch.params_trainable), macs(c.arch.macs)] + scores)
    head = header[:2] + [b.tr("col.n_seeds")] + header[3:]
    b.table(sec, f"summary:{ds}", tr(b, "cap.summary", dataset=b.ds_label(ds)) + st(b, "cap.summary_seeds"),
            head, rows, source="cells/*/arch.json, analysis/seeds.json", numeric_from=3)
