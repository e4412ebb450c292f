"""Training as it happened: per cell what ran (epochs, early stop, batch size used, out-of-memory retries,
test loss), the class weights the loss used, the learning rate per epoch, and the per-epoch log.

Everything comes from a cell's ``epochs.csv`` (EpochRow) and ``result.json`` (ResultRecord); nothing is
recomputed. The per-epoch tables sit in this section, right after the results they explain, while they are
short; a long log (many cells × many epochs) moves to its own appendix section, so the comparison a grader
reads next is not pushed pages away (:data:`INLINE_EPOCH_ROWS`).
"""

from __future__ import annotations

from typing import Any

from ...i18n import t
from ...registry.strategies import STAGE_NAMES
from ...store import CellResult
from ...store.schema import EpochRow
from ..builder import Builder, slug
from ..format import NA, count, dec, megabytes, pct, plain, seconds
from ..model import Cell, Paragraph, Section
from ..prose import metric_label
from . import percell
from .results import fig_labels, shaded, warmup_boundary

INLINE_EPOCH_ROWS = 60  # more per-epoch rows than this (all cells together) go to the appendix
INLINE_EPOCH_TABLES = 12  # ... and so do more per-cell tables than this
STAR = "★"
# result.json peak_mem_kind values the runner writes (train/memory.py); process_max_rss: older stores
MEM_KINDS = ("process_max_rss", "cuda_max_allocated", "cell_peak_rss", "cell_sampled_rss")


# --------------------------------------------------------------------------- formatting (one place, tested)
def loss_text(v: float | None) -> str:
    """A loss: unbounded, so four decimals rather than a percentage."""
    return NA if v is None else f"{v:.4f}"


def lr_text(v: float | None) -> str:
    """A learning rate, three significant digits: 0.001, 0.00075, 2.5e-05."""
    return NA if v is None else f"{v:.3g}"


def seconds_text(v: float | None) -> str:
    return NA if v is None else f"{v:.1f}"


def mem_text(v: float | None) -> str:
    return NA if v is None else f"{v:,.0f}"


def epoch_cells(r: EpochRow) -> list[str]:
    """The numbers of one epochs.csv row, formatted as the per-epoch table shows them (after epoch, stage)."""
    return [loss_text(r.train_loss), pct(r.train_acc), pct(r.train_macro_f1), loss_text(r.val_loss),
            pct(r.val_acc), pct(r.val_macro_f1), dec(r.val_auc), lr_text(r.lr), seconds_text(r.seconds),
            mem_text(r.peak_mem_mb)]


def test_loss(c: CellResult) -> float | None:
    """The test split's mean loss with the selected weights, once metrics.json records it."""
    return getattr(c.test, "loss", None)


# --------------------------------------------------------------------------- helpers
def _tt(b: Builder, key: str, **values: Any) -> str:
    return t(b.lang, f"training.{key}", **values)


def ordered_cells(b: Builder) -> list[CellResult]:
    """Finished cells in the report's reading order: dataset, strategy, backbone, seed."""
    out: list[CellResult] = []
    for ds in b.datasets():
        for s in b.strategies():
            for bb in b.backbones():
                for seed in b.seeds():
                    out += b.cells(dataset=ds, strategy=s, backbone=bb, seed=seed)
    return out + [c for c in b.run.cells if c not in out]


def who(b: Builder, c: CellResult) -> str:
    """A cell in prose: "EfficientNet-Lite0, fine-tuning, seed 0" (+ the dataset when there are several)."""
    parts = [b.bb_label(c.cell.backbone), b.strategy_name(c.cell.strategy)]
    if len(b.seeds()) > 1:
        parts.append(_tt(b, "seed", seed=c.cell.seed))
    if len(b.datasets()) > 1:
        parts.append(b.ds_label(c.cell.dataset))
    return b.join(parts)


def stop_text(b: Builder, c: CellResult) -> str:
    res, patience = c.result, c.cell.train.patience
    if res.stopped_early:
        return _tt(b, "stop.early", epoch=res.epochs_run, patience=plain(patience))
    return _tt(b, "stop.all", epochs=res.epochs_run)


# --------------------------------------------------------------------------- the section
def training(b: Builder) -> None:
    """The "Training log" section; the per-epoch tables go to :func:`epoch_log_appendix` when long."""
    cells = ordered_cells(b)
    sec = b.section("training")
    sec.blocks.append(Paragraph(_tt(b, "intro")))
    if not cells:
        return
    _summary(b, sec, cells)
    _oom(b, sec, cells)
    for ds in b.datasets():
        done = [c for c in cells if c.cell.dataset == ds]
        if done:
            _weights(b, sec, ds, done)
            _lr_figure(b, sec, ds, done)
    if b.detail == "brief":
        sec.blocks.append(Paragraph(t(b.lang, "brief.epochs_out", rows=sum(len(c.epochs) for c in cells))))
    elif inline_epoch_tables(b):
        for c in cells:
            epoch_table(b, sec, c)
    else:
        sec.blocks.append(Paragraph(_tt(b, "log_in_appendix", rows=sum(len(c.epochs) for c in cells))))
    b.note(sec, "training")


def inline_epoch_tables(b: Builder) -> bool:
    # Few rows and few tables: sixty one-epoch runs are sixty tables, too many to sit beside the results.
    return sum(len(c.epochs) for c in b.run.cells) <= INLINE_EPOCH_ROWS and len(b.run.cells) <= INLINE_EPOCH_TABLES


def epoch_log_appendix(b: Builder) -> None:
    """The per-epoch tables as their own appendix section, when too long to sit beside the results."""
    if not b.run.cells or inline_epoch_tables(b) or b.detail == "brief":
        return
    sec = b.section("training_log")
    sec.blocks.append(Paragraph(_tt(b, "appendix_intro")))
    cells = ordered_cells(b)
    if percell.long(len(cells)):  # hundreds of runs: one table per backbone × strategy, a seed column
        grouped_epoch_tables(b, sec, cells)
        return
    for c in cells:
        epoch_table(b, sec, c)


def grouped_epoch_tables(b: Builder, sec: Section, cells: list[CellResult]) -> None:
    """Every epoch of every seed of one (dataset, backbone, strategy) in one table, seed by seed: hundreds of
    runs make as many tables otherwise. Each run's ref (``epochs-<cell id>``) names its group's table, so a
    sentence citing a run's log cites the table that holds it."""
    groups: dict[tuple[str, str, str], list[CellResult]] = {}
    for c in cells:
        groups.setdefault((c.cell.dataset, c.cell.backbone, c.cell.strategy), []).append(c)
    header = [t(b.lang, "results.col.seed"), _tt(b, "col.epoch"), _tt(b, "col.stage")] + [
        _tt(b, f"col.{k}") for k in ("train_loss", "train_acc", "train_f1", "val_loss", "val_acc", "val_f1",
                                     "val_auc", "lr", "seconds", "mem")]
    for (ds, bb, s), members in groups.items():
        rows = []
        for c in members:
            for r in c.epochs:
                cls = "best" if r.epoch == c.result.best_epoch else ""
                first = f"{r.epoch} {STAR}" if cls else str(r.epoch)
                stage = _tt(b, f"stage.{r.stage}") if r.stage in STAGE_NAMES else r.stage
                rows.append([Cell(str(c.cell.seed), cls=cls), Cell(first, cls=cls), Cell(stage, cls=cls)]
                            + [Cell(x, cls=cls) for x in epoch_cells(r)])
        ref = f"epochs-{slug(ds, bb, s)}-seeds"
        tab = b.table(sec, ref, t(b.lang, "scale.cap.epochs_seeds", backbone=b.bb_label(bb), strategy=b.strategy_name(s),
                                  dataset=b.ds_label(ds), n=len(members)),
                      header, rows, source="cells/*/epochs.csv, cells/*/result.json best_epoch", numeric_from=3)
        tab.cls = "compact"
        for c in members:
            b.alias(f"epochs-{c.id}", ref)


def _summary(b: Builder, sec: Section, cells: list[CellResult]) -> None:
    # Test loss is a column once metrics.json records it (older stores: no column of "n/a").
    has_loss = any(test_loss(c) is not None for c in cells)
    keys = ("cell", "epochs", "best_epoch", "stop", "batch", "oom") + (("test_loss",) if has_loss else ()) \
        + ("train_time", "peak_mem")
    header = [_tt(b, f"col.{k}") for k in keys]
    rows = []
    for c in cells:
        res = c.result
        configured = c.cell.train.batch_size
        batch = (Cell(count(res.batch_size_used), sub=_tt(b, "batch_configured", n=plain(configured)), cls="warn")
                 if configured is not None and configured != res.batch_size_used else count(res.batch_size_used))
        best = Cell(str(res.best_epoch), sub=f"{metric_label(b.lang, res.selection_metric)} {dec(res.best_val, 4)}"
                    if res.best_val is not None else "")
        rows.append([who(b, c), f"{res.epochs_run} / {plain(c.cell.train.epochs)}", best, stop_text(b, c),
                     batch, count(res.oom_retries)] + ([loss_text(test_loss(c))] if has_loss else [])
                    + [seconds(res.train_time_s), megabytes(res.peak_mem_mb)])
    kinds = sorted({c.result.peak_mem_kind for c in cells})
    mem = b.join(_tt(b, f"mem.{k}") if k in MEM_KINDS else k for k in kinds)

    def build(where: Section) -> None:
        tab = b.table(where, "training-summary", _tt(b, "cap.summary", mem=mem), header, rows,
                      source="cells/*/result.json, cells/*/cell.json train, cells/*/metrics.json")
        tab.cls = "compact"

    percell.place(b, sec, "training-summary", build, rows=len(rows), what=t(b.lang, "scale.what.training"),
                  files="cells/*/result.json")


def _oom(b: Builder, sec: Section, cells: list[CellResult]) -> None:
    hit = [c for c in cells if c.result.oom_retries]
    if not hit:
        sec.blocks.append(Paragraph(_tt(b, "oom.none")))
        return
    for c in hit:
        sec.blocks.append(Paragraph(_tt(b, "oom.retry", cell=who(b, c), n=c.result.oom_retries,
                                        configured=plain(c.cell.train.batch_size),
                                        used=c.result.batch_size_used)))


def _weights(b: Builder, sec: Section, ds: str, cells: list[CellResult]) -> None:
    """The per-class weights the loss and the sampler used (result.json), beside the training counts."""
    weighted = [c for c in cells if c.result.class_weights is not None or c.result.sampler_weights is not None]
    if not weighted:
        sec.blocks.append(Paragraph(_tt(b, "weights.none", dataset=b.ds_label(ds))))
        return
    # Cells of one dataset share the training split, so they share the weights; group in case they do not.
    groups: dict[tuple, list[CellResult]] = {}
    for c in weighted:
        groups.setdefault((tuple(c.result.class_weights or ()), tuple(c.result.sampler_weights or ())), []).append(c)
    for (cw, sw), members in groups.items():
        c0 = members[0]
        counts = c0.data.splits["train"].counts if "train" in c0.data.splits else []
        header = [b.tr("col.class"), _tt(b, "col.train_n")]
        header += [_tt(b, "col.loss_weight")] if cw else []
        header += [_tt(b, "col.sampler_weight")] if sw else []
        rows = []
        for i, name in enumerate(c0.cell.classes):
            row: list[Any] = [name, count(counts[i]) if i < len(counts) else NA]
            row += [f"{cw[i]:.4f}"] if cw else []
            row += [f"{sw[i]:.4g}"] if sw else []
            rows.append(row)
        scope = "" if len(groups) == 1 else b.join(dict.fromkeys(who(b, c) for c in members))
        b.table(sec, f"class-weights-{slug(ds)}" + (f"-{slug(c0.id)}" if scope else ""),
                _tt(b, "cap.weights", dataset=b.ds_label(ds)) + (f" ({scope})" if scope else ""), header, rows,
                source=f"cells/{c0.id}/result.json class_weights, sampler_weights; data.json splits.train")
        if cw:
            text = _tt(b, "weights.loss", k=len(c0.cell.classes))
            if c0.cell.train.loss == "bce" and len(cw) == 2 and cw[0]:
                text += " " + _tt(b, "weights.bce", value=f"{cw[1] / cw[0]:.4f}")
            sec.blocks.append(Paragraph(text))
        if sw:
            sec.blocks.append(Paragraph(_tt(b, "weights.sampler")))


def _lr_figure(b: Builder, sec: Section, ds: str, cells: list[CellResult]) -> None:
    """One line per (backbone, strategy): seeds share the schedule unless it reacts to the metric (plateau)."""
    series, seen = [], set()
    multi_bb = len({c.cell.backbone for c in cells}) > 1
    for c in cells:
        plateau = c.cell.train.scheduler == "plateau"
        key = (c.cell.backbone, c.cell.strategy, c.cell.seed if plateau else None)
        if key in seen:
            continue
        seen.add(key)
        label = b.strategy_name(c.cell.strategy)
        if multi_bb:
            label = f"{b.bb_label(c.cell.backbone)} · {label}"
        if plateau and len(b.seeds()) > 1:
            label += f" · {_tt(b, 'seed', seed=c.cell.seed)}"
        lrs = [r.lr for r in c.epochs]
        same = next((x for x in series if x["lr"] == lrs and x["epoch"] == [r.epoch for r in c.epochs]), None)
        if same is not None:  # an identical schedule: one line, both names (overlapping lines hide each other)
            same["label"] = b.join([same["label"], label])
            same["boundary"] = same["boundary"] if same["boundary"] is not None else warmup_boundary(c)
            continue
        series.append({"epoch": [r.epoch for r in c.epochs], "lr": lrs, "strategy": c.cell.strategy,
                       "label": label, "boundary": warmup_boundary(c)})
    schedulers = b.join(dict.fromkeys(plain(c.cell.train.scheduler) for c in cells))
    cap = (_tt(b, "cap.lr", dataset=b.ds_label(ds), scheduler=schedulers) if shaded(b, cells)
           else t(b.lang, "claims.cap.lr", dataset=b.ds_label(ds), scheduler=schedulers))  # shading only if drawn
    b.figure(sec, f"lr-{slug(ds)}", cap,
             ("lr", {"series": series, "labels": fig_labels(b)}),
             # Hundreds of runs: the file pattern, not four pages of paths.
             source=", ".join(dict.fromkeys(f"cells/{c.id}/epochs.csv lr" for c in cells))
             if len(cells) <= INLINE_EPOCH_TABLES else "cells/*/epochs.csv lr", wide=True)


def epoch_table(b: Builder, sec: Section, c: CellResult) -> None:
    """Every epoch of one cell as epochs.csv holds it; the selected epoch in bold with a star."""
    res = c.result
    header = [_tt(b, f"col.{k}") for k in ("epoch", "stage", "train_loss", "train_acc", "train_f1", "val_loss",
                                            "val_acc", "val_f1", "val_auc", "lr", "seconds", "mem")]
    rows = []
    for r in c.epochs:
        best = r.epoch == res.best_epoch
        cls = "best" if best else ""
        first = f"{r.epoch} {STAR}" if best else str(r.epoch)
        rows.append([Cell(first, cls=cls), Cell(_tt(b, f"stage.{r.stage}") if r.stage in STAGE_NAMES
                                                else r.stage, cls=cls)]
                    + [Cell(x, cls=cls) for x in epoch_cells(r)])
    tab = b.table(sec, f"epochs-{c.id}", _tt(b, "cap.epochs", cell=who(b, c), dataset=b.ds_label(c.cell.dataset),
                                             best=res.best_epoch, metric=metric_label(b.lang, res.selection_metric)),
                  header, rows, source=f"cells/{c.id}/epochs.csv, result.json best_epoch", numeric_from=2)
    tab.cls = "compact"
    patience = c.cell.train.patience
    stop = "note.stop_early" if res.stopped_early else "note.ran_all" if patience else "note.ran_all_no_patience"
    notes = [_tt(b, stop, epoch=res.epochs_run, patience=plain(patience))]
    boundary = warmup_boundary(c)
    if boundary is not None:
        notes.append(_tt(b, "note.warmup", last=int(boundary - 0.5), first=int(boundary + 0.5)))
    if res.oom_retries:
        notes.append(_tt(b, "oom.short", n=res.oom_retries, configured=plain(c.cell.train.batch_size),
                         used=res.batch_size_used))
    loss = test_loss(c)
    if loss is not None:
        notes.append(_tt(b, "note.test_loss", loss=loss_text(loss), best=res.best_epoch))
    sec.blocks.append(Paragraph(("" if b.lang.startswith("zh") else " ").join(notes)))  # no space after 。


__all__ = ["epoch_cells", "epoch_log_appendix", "epoch_table", "loss_text", "lr_text", "training"]
