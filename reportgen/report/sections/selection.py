"""Model selection as the labs show it: candidate table, head replacement, parameters per strategy,
and the per-layer summaries of the appendix.

Works from the loaded run only: ``candidates.json`` (run root), each cell's ``arch.json`` and ``layers.json``.
A store written before those files existed still renders: the candidate table falls back to the
chosen backbones' ``arch.json`` metadata and the appendix says the summaries are missing.
"""

from __future__ import annotations

from typing import Any

from ...describe.claims_shown import caption_id, outcome_of
from ...i18n import t
from ...store.schema import Candidate, CandidatesRecord, LayerSummary
from ..builder import Builder, slug
from ..format import NA, count, megabytes, params, pct
from ..model import BulletList, Cell, Heading, Paragraph, Section

CHOSEN = "✓"


def tr(b: Builder, key: str, **values: Any) -> str:
    return t(b.lang, f"selection.{key}", **values)


# --------------------------------------------------------------------------- candidates
def _fallback_candidates(b: Builder) -> CandidatesRecord:
    """The chosen backbones' metadata as recorded in arch.json (stores without candidates.json)."""
    rows, version = [], NA
    for bb in b.backbones():
        cell = next((c for c in b.cells(backbone=bb) if c.arch.imagenet), None) or next(iter(b.cells(backbone=bb)),
                                                                                        None)
        meta = (cell.arch.imagenet if cell else None) or {}
        if cell is not None:
            version = cell.env.torchvision
        rows.append(Candidate(backbone=bb, chosen=True, weights=meta.get("name"), acc1=meta.get("acc1"),
                              acc5=meta.get("acc5"), num_params=meta.get("num_params"), gflops=meta.get("gflops"),
                              crop_size=meta.get("crop_size"), file_size_mb=meta.get("file_size_mb"),
                              source="torchvision" if meta.get("gflops") else "none" if not meta else "arch.json"))
    return CandidatesRecord(torchvision=version, candidates=rows)


def _acc(v: float | None) -> str:
    return NA if v is None else f"{v:.1f}"


def candidates_table(b: Builder, sec: Section) -> None:
    """The candidate backbones (torchvision weights metadata), chosen ones bold and ticked."""
    record = b.run.candidates
    source = CandidatesRecord.FILE
    if record is None:
        record, source = _fallback_candidates(b), "cells/*/arch.json imagenet"
    header = [tr(b, f"col.{k}") for k in ("backbone", "acc1", "acc5", "params", "gflops", "file_size", "chosen")]
    rows = []
    for c in record.candidates:
        cls = "chosen" if c.chosen else ""
        gflops = NA if c.gflops is None else f"{c.gflops:.3g}"
        crop = tr(b, "at_crop", size=c.crop_size) if c.crop_size and c.crop_size != 224 else ""
        weights = (c.weights or NA).split(".")[-1] if c.source == "torchvision" else (c.weights or NA)
        # The weights' name under the backbone: a column of its own would squeeze every number.
        rows.append([Cell(b.bb_label(c.backbone), sub=weights, cls=cls), Cell(_acc(c.acc1), cls=cls),
                     Cell(_acc(c.acc5), cls=cls), Cell(params(c.num_params), cls=cls),
                     Cell(gflops, sub=crop, cls=cls), Cell(megabytes(c.file_size_mb), cls=cls),
                     Cell(CHOSEN if c.chosen else "", cls=cls)])
    sec.blocks.append(Heading(tr(b, "head.candidates"), "sec-model-candidates"))
    bold = outcome_of(b.description, caption_id("candidates")) == "bold"  # "chosen … in bold" only if a row is
    b.table(sec, "candidates", tr(b, "cap.candidates", version=record.torchvision) if bold
            else t(b.lang, "claimcheck.cap.candidates_none", version=record.torchvision), header, rows, source=source)
    notes = []
    lite = [b.bb_label(c.backbone) for c in record.candidates if c.source == "efficientnet-lite"]
    none = [b.bb_label(c.backbone) for c in record.candidates if c.source == "none"]
    if lite:
        notes.append(tr(b, "lite_note", backbones=b.join(lite)))
    if none:
        notes.append(tr(b, "none_note", backbones=b.join(none)))
    if source != CandidatesRecord.FILE:
        notes.append(tr(b, "fallback_note"))
    if notes:
        sec.blocks.append(BulletList(notes))


# --------------------------------------------------------------------------- head, parameters
def head_sentences(b: Builder, first_cell: Any) -> list[str]:
    """"fc: 2048 → 2" per backbone, from arch.json (the head module, its in and out features)."""
    out = []
    for bb in b.backbones():
        c = first_cell(b, bb)
        if c is not None and c.arch.head_in_features and c.arch.head_out_features:
            values = dict(backbone=b.bb_label(bb), head=c.arch.head, n_in=c.arch.head_in_features,
                          n_out=c.arch.head_out_features)
            # "The ImageNet classifier is replaced" only where some cell of this backbone started from weights.
            if any(x.cell.strategy_semantics.init == "pretrained" for x in b.cells(backbone=bb)):
                out.append(tr(b, "head_replaced", **values))
            else:
                out.append(t(b.lang, "claims.head_random", **values))
    return out


def params_table(b: Builder, sec: Section) -> None:
    """Total / trainable / frozen parameters per backbone × strategy (warm-up: after warm-up)."""
    multi_ds = len(b.datasets()) > 1
    rows = []
    for ds in b.datasets():
        for bb in b.backbones():
            for s in b.strategies():
                c = next(iter(b.cells(dataset=ds, backbone=bb, strategy=s)), None)
                if c is None:
                    continue
                a = c.arch
                total, trainable, frozen, sub = a.params_total, a.params_trainable, a.params_frozen, ""
                summary = c.layers if s == "warmup" else None
                if summary is not None:  # arch.json counts the frozen first stage; layers.json the stage after it
                    sub = tr(b, "warmup_sub", epochs=c.cell.strategy_semantics.frozen_epochs,
                             n=count(a.params_trainable))
                    trainable, frozen = summary.params_trainable, summary.params_frozen
                share = trainable / total if total else None
                row: list[Any] = [b.ds_label(ds)] if multi_ds else []
                row += [b.bb_label(bb), b.strategy_name(s), count(total), Cell(count(trainable), sub=sub),
                        count(frozen), pct(share)]
                rows.append(row)
    if not rows:
        return
    header = ([tr(b, "col.dataset")] if multi_ds else []) + [
        tr(b, f"col.{k}") for k in ("backbone", "strategy", "total", "trainable", "frozen", "share")]
    # The warm-up sentence only where a row has the warm-up line it explains.
    warm = any(isinstance(r[-3], Cell) and r[-3].sub for r in rows)
    caption = tr(b, "cap.params") + ((" " if b.lang == "en" else "") + tr(b, "cap.params_warmup") if warm else "")
    b.table(sec, "params-by-strategy", caption, header, rows,
            source="cells/*/arch.json params_*" + (", cells/*/layers.json (warm-up)" if warm else ""),
            numeric_from=3 if multi_ds else 2)


# --------------------------------------------------------------------------- appendix: per-layer summaries
def _shape(shape: list[int] | None) -> str:
    return NA if not shape else "×".join(str(v) for v in shape)


def _signature(s: LayerSummary) -> tuple:
    return tuple((r.name, r.type, tuple(r.output_shape or ()), r.params, r.params_trainable) for r in s.rows)


def layer_tables(b: Builder, sec: Section) -> None:
    """One table per backbone; a strategy gets its own only where its rows (trainable column) differ."""
    groups: dict[tuple, tuple[LayerSummary, list[str]]] = {}
    seen_any = False
    for bb in b.backbones():
        for s in b.strategies():
            for c in b.cells(backbone=bb, strategy=s):
                summary = c.layers
                if summary is None:
                    continue
                seen_any = True
                key = (bb, summary.error or "", _signature(summary))
                entry = groups.setdefault(key, (summary, []))
                if s not in entry[1]:
                    entry[1].append(s)
    sec.blocks.append(Heading(tr(b, "head.layers"), "sec-appendix-layers"))
    if not seen_any:
        sec.blocks.append(Paragraph(tr(b, "layers_missing")))
        return
    header = [tr(b, f"col.{k}") for k in ("layer", "type", "output", "layer_params", "layer_trainable")]
    used_refs: set[str] = set()
    for (bb, _, _), (summary, keys) in groups.items():
        strategies = [b.strategy_name(k) for k in keys]
        # The ref names strategy keys, not labels: the same table has the same ref in every language.
        ref, n = f"layers-{slug(bb)}", 1
        while ref in used_refs:  # a backbone's further tables (another trainable column, another head size)
            n += 1
            ref = f"layers-{slug(bb, *keys)}" + (f"-{n}" if n > 2 else "")
        used_refs.add(ref)
        if summary.error:
            sec.blocks.append(Paragraph(tr(b, "layers_failed", backbone=b.bb_label(bb),
                                           strategies=b.join(strategies), error=summary.error)))
            continue
        stage = ("after_warmup" if summary.strategy == "warmup" else summary.stage)
        rows = [[Cell(("· " if r.depth > 1 else "") + r.name, cls="small"), Cell(r.type, cls="small"),
                 Cell(_shape(r.output_shape), cls="small"), Cell(count(r.params), cls="small"),
                 Cell(count(r.params_trainable), cls="small")] for r in summary.rows]
        rows.append([Cell(tr(b, "layers_total"), cls="sum"), "", "", Cell(count(summary.params_total), cls="sum"),
                     Cell(count(summary.params_trainable), cls="sum")])
        caption = tr(b, "cap.layers", backbone=b.bb_label(bb), strategies=b.join(strategies), tool=summary.tool,
                     depth=summary.depth, shape=_shape(summary.input_shape), stage=tr(b, f"stage.{stage}"))
        b.table(sec, ref, caption, header, rows, source="cells/*/layers.json", numeric_from=3)
