"""The exact input pipeline per split (data section) and the small-input stem note (methods).

Reads ``data.json``'s ``pipeline`` (ordered steps with their stage) and ``arch.json``'s ``stem``;
the step wording comes from the ``pipeline`` i18n catalog, one key per op of
``reportgen.data.pipeline.OPS``, so a declared op and its printed line cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any

from ...i18n import t
from ...store import CellResult
from ..builder import Builder
from ..model import Paragraph, Section


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return "–".join(_fmt(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def step_text(lang: str, op: str, params: dict[str, Any]) -> str:
    """One step in words with its parameters (``"horizontal flip, p = 0.5"``)."""
    return t(lang, f"pipeline.op.{op}", **{k: _fmt(v) for k, v in params.items()})


def _input_steps(b: Builder, c: CellResult) -> list[str]:
    """What every batch goes through after the stored ops: gray → 3 channels, normalization (``to_model_input``)."""
    lang = b.lang
    out = []
    if c.data.color == "gray":
        out.append(step_text(lang, "gray_to_rgb", {}))
    norm = c.arch.normalization or {}
    if norm.get("mean") and norm.get("std"):
        out.append(step_text(lang, "normalize", {"mean": ", ".join(f"{m:.3f}" for m in norm["mean"]),
                                                 "std": ", ".join(f"{s:.3f}" for s in norm["std"])}))
    return out


def _groups(b: Builder, ds: str) -> list[tuple[list[CellResult], Any]]:
    """Cells of one dataset grouped by identical pipelines (overrides can give a strategy its own)."""
    groups: dict[str, tuple[list[CellResult], Any]] = {}
    for c in b.cells(dataset=ds):
        p = c.data.pipeline
        if p is None:
            continue
        key = json.dumps([p.model_dump(), c.arch.normalization, c.data.color], sort_keys=True)
        groups.setdefault(key, ([], p))[0].append(c)
    return list(groups.values())


def _who(b: Builder, cells: list[CellResult], n_groups: int) -> str:
    if n_groups == 1:
        return t(b.lang, "pipeline.caption_all")
    names = sorted({(c.cell.backbone, c.cell.strategy) for c in cells})
    return b.join(f"{b.bb_label(bb)} {b.strategy_name(s)}" for bb, s in names)


def add(b: Builder, sec: Section, ds: str, cell: CellResult | None) -> None:
    """The data section's preprocessing sentence and the pipeline table(s) of dataset ``ds`` (ref ``pipeline:<ds>``)."""
    if cell is None:
        return
    groups = _groups(b, ds)
    if not groups:  # a store written before pipelines were recorded: the old one-line description
        aug = cell.data.augment
        sec.blocks.append(Paragraph(b.tr("data.preprocessing", preprocessing=cell.data.preprocessing,
                                         augmentation=b.tr("data.no_augmentation") if aug == "none" else str(aug))))
        return
    for i, (cells, p) in enumerate(groups):
        c = cells[0]
        ref = f"pipeline:{ds}" if i == 0 else f"pipeline:{ds}:{i + 1}"
        label = b.ref(ref)  # the table created below
        batch = [s for s in p.train if s.stage == "batch"]
        sep = "；" if b.lang.startswith("zh") else "; "  # steps contain commas ("flip, p = 0.5")
        augmentation = (b.tr("data.no_augmentation") if not batch else
                        t(b.lang, "pipeline.summary", steps=sep.join(step_text(b.lang, s.op, s.params) for s in batch),
                          ref=label))
        chain = [step_text(b.lang, s.op, s.params) for s in p.eval] + [step_text(b.lang, "to_float", {})]
        sec.blocks.append(Paragraph(b.tr("data.preprocessing", augmentation=augmentation,
                                         preprocessing=" → ".join(chain + _input_steps(b, c)))))
        rows: list[list[Any]] = []
        for split, steps in (("train", p.train), ("eval", p.eval)):
            # The order to_model_input applies them in: decoded uint8 → 0–1 → batch ops → channels → normalize.
            lines = [(step_text(b.lang, s.op, s.params), s.stage) for s in steps if s.stage == "decode"]
            lines.append((step_text(b.lang, "to_float", {}), "input"))
            lines += [(step_text(b.lang, s.op, s.params), s.stage) for s in steps if s.stage != "decode"]
            lines += [(text, "input") for text in _input_steps(b, c)]
            for n, (text, stage) in enumerate(lines, start=1):
                rows.append([t(b.lang, f"pipeline.split.{split}") if n == 1 else "", str(n), text,
                             t(b.lang, f"pipeline.when.{stage}")])
        header = [t(b.lang, f"pipeline.col.{k}") for k in ("split", "n", "step", "when")]
        b.table(sec, ref, t(b.lang, "pipeline.caption", dataset=b.ds_label(ds), who=_who(b, cells, len(groups))),
                header, rows, source="cells/*/data.json, cells/*/arch.json", numeric_from=99)


def augment_value(b: Builder, augment: Any) -> str:
    """``[train] augment`` in the hyperparameter table: the preset's name or "op list", citing the pipeline table."""
    want = json.dumps(augment, sort_keys=True)
    keys = []  # only the pipeline tables of cells trained with this value (one table per distinct pipeline)
    for ds in b.datasets():
        for i, (cells, _) in enumerate(_groups(b, ds)):
            ref = f"pipeline:{ds}" if i == 0 else f"pipeline:{ds}:{i + 1}"
            if ref in b.refs and any(json.dumps(c.data.augment, sort_keys=True) == want for c in cells):
                keys.append(ref)
    what = f'"{augment}"' if isinstance(augment, str) else t(b.lang, "pipeline.op_list", n=len(augment))
    return t(b.lang, "pipeline.see", what=what, ref=b.ref(*keys)) if keys else what


def stem(b: Builder) -> None:
    """A sentence in the methods section per backbone trained with ``stem = "small"`` (what changed, what is new)."""
    sec = next((s for s in b.sections if s.anchor == "sec-methods"), None)
    if sec is None:
        return
    for bb in b.backbones():
        c = next((c for c in b.cells(backbone=bb) if c.arch.stem), None)
        if c is None:
            continue
        st = c.arch.stem
        changes = b.join(st.get("changes") or [])
        if st.get("random_init"):
            fresh = t(b.lang, "pipeline.stem_modules", modules=b.join(st["random_init"]))
            sec.blocks.append(Paragraph(t(b.lang, "pipeline.stem", backbone=b.bb_label(bb), changes=changes,
                                          random_init=fresh)))
        else:
            sec.blocks.append(Paragraph(t(b.lang, "pipeline.stem_kept", backbone=b.bb_label(bb), changes=changes)))
