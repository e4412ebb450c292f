"""The data section's views of the data itself: class shares per split with a shift warning, a grid of
sample images per class per split, and the training augmentation preview (one per distinct pipeline).

Works from the loaded run only: ``datasets/<name>.json`` (counts), ``datasets/<name>/samples.json`` and
``cells/<id>/augment_preview.json`` (written by :mod:`reportgen.data.samples` in the runner), as typed
records, and the PNGs they list as checked references (:class:`~reportgen.store.images.StoreImage`) that
the figure workers decode. A store written before these files existed simply has no grid or preview.
"""

from __future__ import annotations

from typing import Any

from ...describe import checks
from ...i18n import t
from ...store.load import PREVIEW_FOLDER, SAMPLES_FOLDER
from ...store.schema import AugmentPreview, DatasetFacts
from ..builder import SPLITS, Builder, slug
from ..format import count, dec, pct
from ..model import Cell, Paragraph, Section


def _tr(b: Builder, key: str, **values: Any) -> str:
    """This module's strings live in the ``datavis`` catalog domain (not under ``report.``)."""
    return t(b.lang, key, **values)


# --------------------------------------------------------------------------- class shares
def class_shares(b: Builder, sec: Section, ds: str, facts: DatasetFacts) -> None:
    """Count and share of every class in every split, each split's TVD from training, and a sentence
    that warns when validation or test drifts from training by the threshold the finding uses."""
    header = [b.tr("col.split"), b.tr("col.n")] + list(facts.classes) + [_tr(b, "datavis.col.tvd")]
    rows = []
    shifts = {}
    for sp in SPLITS:
        info = facts.splits.get(sp)
        n, counts = (info.n, info.counts) if info else (None, [])
        shares = checks.class_shares(counts) if counts else []
        row: list[Any] = [b.tr(f"split.{sp}"), count(n)]
        for i in range(len(facts.classes)):
            k = counts[i] if i < len(counts) else None
            row.append(Cell(count(k), sub=f"{pct(shares[i])}%" if k is not None and n else ""))
        shift = checks.split_shift(facts, sp) if sp != "train" else None
        if shift:
            shifts[sp] = shift
        row.append(Cell(dec(shift["tvd"]) if shift else "—", cls="warn" if shift and shift["shifted"] else ""))
        rows.append(row)
    tab = b.table(sec, f"shares-{slug(ds)}", _tr(b, "datavis.cap.shares", dataset=b.ds_label(ds)), header, rows,
                  source=f"datasets/{ds}.json")
    b.alias(f"splits:{ds}", tab.ref)  # the discussion cites the split table under this name
    threshold = dec(float(checks.SHIFT_TVD), 2)
    warned = [s for s in shifts.values() if s["shifted"]]
    for s in warned:
        sec.blocks.append(Paragraph(_tr(
            b, "datavis.shift.warn", split=b.tr(f"split.{s['split']}"), tvd=dec(s["tvd"]), threshold=threshold,
            class_name=s["class_name"], split_share=pct(s["split_share"]), train_share=pct(s["train_share"]))))
    if shifts and not warned:
        top = max(shifts.values(), key=lambda s: s["tvd"])
        sec.blocks.append(Paragraph(_tr(b, "datavis.shift.none", threshold=threshold, tvd=dec(top["tvd"]),
                                         split=b.tr(f"split.{top['split']}"))))


# --------------------------------------------------------------------------- sample images
def sample_grid(b: Builder, sec: Section, ds: str) -> None:
    index = b.run.samples.get(ds)
    if index is None or not index.samples:
        return
    splits = [s for s in SPLITS if any(x.split == s for x in index.samples)]
    by_key = {(x.split, x.label): [] for x in index.samples}
    for x in index.samples:
        by_key[(x.split, x.label)].append(b.run.images.get(f"datasets/{ds}/{SAMPLES_FOLDER}/{x.file}"))
    rows = []
    for c, name in enumerate(index.classes):
        files: list[Any] = []
        for sp in splits:
            got = by_key.get((sp, c), [])
            files += got + [None] * (index.per_class - len(got))
        rows.append({"label": name, "files": files})
    upscaled = _tr(b, "datavis.samples.upscaled", scale=index.scale) if index.scale > 1 else ""
    caption = _tr(b, "datavis.cap.samples", dataset=b.ds_label(ds), per_class=index.per_class,
                   size=index.input_size, upscaled=upscaled)
    job = ("samples", {"rows": rows, "groups": [b.tr(f"split.{s}") for s in splits], "per_group": index.per_class})
    b.figure(sec, f"samples-{slug(ds)}", caption, job, source=f"datasets/{ds}/samples.json", wide=True)


# --------------------------------------------------------------------------- augmentation preview
def augment_previews(b: Builder, sec: Section, ds: str) -> None:
    """One preview figure per distinct augmentation pipeline used on ``ds`` (the first cell's images)."""
    groups: dict[tuple[str, int], list[tuple[Any, AugmentPreview]]] = {}
    for c in b.cells(dataset=ds):
        prev = c.augment_preview
        if prev is not None:
            groups.setdefault((prev.pipeline, prev.input_size), []).append((c, prev))
    for n, ((pipeline, _size), members) in enumerate(groups.items()):
        cell, prev = members[0]
        rows = []
        for img in prev.images:
            files = [cell.images.get(f"{PREVIEW_FOLDER}/{name}") for name in (img.before, *img.after)]
            rows.append({"label": img.class_name, "files": files})
        used = []
        for c, _ in members:
            label = b.cell_name(c.cell.backbone, c.cell.strategy)
            if label not in used:
                used.append(label)
        columns = [_tr(b, "datavis.grid.before")] + [_tr(b, "datavis.grid.after", k=k + 1) for k in range(prev.draws)]
        caption = _tr(b, "datavis.cap.augpreview", dataset=b.ds_label(ds), pipeline=pipeline, draws=prev.draws,
                       seed=prev.seed, size=prev.input_size, cells=b.join(used))
        job = ("augpreview", {"rows": rows, "columns": columns})
        b.figure(sec, f"augpreview-{slug(ds)}-{n + 1}", caption, job,
                 source=f"cells/{cell.id}/{AugmentPreview.FILE}", wide=True)


def data_views(b: Builder, sec: Section, ds: str) -> None:
    """The sample grid and the augmentation previews of one dataset (after its tables and text)."""
    sample_grid(b, sec, ds)
    augment_previews(b, sec, ds)
