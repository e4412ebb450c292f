"""Why the models err: the most confident test mistakes per strategy and a Grad-CAM grid of fixed images.

Works from each loaded cell's ``explain.json`` (:class:`~reportgen.store.schema.ExplainRecord`, written by the
runner through :mod:`reportgen.explain`) and the PNGs it names, resolved by the store's reader into checked
references the figure workers decode; torch is never imported. One gallery and one Grad-CAM
grid per dataset × backbone (the first seed, as in the comparison), strategies side by side.
"""

from __future__ import annotations

from typing import Any

from ...i18n import t
from ...store import CellResult
from ..builder import Builder, slug
from ..format import dec, seconds
from ..model import Heading, Paragraph, Section

INSTALL_REASON_PREFIX = "pytorch_grad_cam is not installed"


# In every mistakes / Grad-CAM job: bump when figures.draw_explain draws them differently, so the figure cache
# redraws them (kept here so that building the report's sections imports no matplotlib).
VERSION = 7


def tr(b: Builder, key: str, **values: Any) -> str:
    return t(b.lang, f"explain.{key}", **values)


def _png(c: CellResult, rel: str) -> dict[str, Any]:
    """A PNG of the cell for a figure job: the store's checked reference (its stamp keys the figure cache)."""
    return {"image": c.images[rel]}


def errors(b: Builder) -> None:
    sec = b.section("errors")  # a key of its own: [[report.tasks]] sections = ["errors"] can name it
    seed = b.seeds()[0]
    records = {c.id: c.explain for c in b.run.cells if c.cell.seed == seed}
    per_class = next((r.cam_per_class for r in records.values() if r), 2)
    sec.blocks.append(Paragraph(tr(b, "intro", per_class=per_class)))
    missing = [c for c in b.run.cells if c.id in records and records[c.id] is None]
    if missing:
        sec.blocks.append(Paragraph(tr(b, "missing", cells=b.join(_name(b, c) for c in missing))))
    several = len(b.datasets()) > 1 or len(b.backbones()) > 1
    for ds in b.datasets():
        for bb in b.backbones():
            cells = [c for s in b.strategies() for c in b.cells(dataset=ds, backbone=bb, strategy=s, seed=seed)
                     if records.get(c.id) is not None]
            if not cells:
                continue
            if several:
                sec.blocks.append(Heading(tr(b, "heading", dataset=b.ds_label(ds), backbone=b.bb_label(bb)),
                                          f"sec-errors-{slug(ds, bb)}"))
            _gallery(b, sec, ds, bb, seed, [(c, records[c.id]) for c in cells])
            _gradcam(b, sec, ds, bb, seed, [(c, records[c.id]) for c in cells])
    times = [r.seconds for r in records.values() if r]
    if times:
        sec.blocks.append(Paragraph(tr(b, "timing", seconds=seconds(max(times)))))
    b.note(sec, "errors")


def _name(b: Builder, c: CellResult) -> str:
    return b.cell_name(c.cell.backbone, c.cell.strategy)


def _gallery(b: Builder, sec: Section, ds: str, bb: str, seed: int, cells: list[tuple[CellResult, Any]]) -> None:
    rows = []
    for c, rec in cells:
        classes = c.cell.classes
        rows.append({"label": tr(b, "row.strategy", strategy=b.strategy_name(c.cell.strategy), wrong=rec.n_wrong,
                                 n=c.test.n),
                     "panels": [{**_png(c, m.image),
                                 "title": tr(b, "panel.mistake", true=classes[m.true], predicted=classes[m.predicted],
                                             confidence=dec(m.confidence))} for m in rec.mistakes],
                     "empty": tr(b, "no_mistakes")})
    ncols = max([len(r["panels"]) for r in rows] + [1])
    b.figure(sec, f"mistakes-{slug(ds, bb)}",
             tr(b, "cap.mistakes", backbone=b.bb_label(bb), dataset=b.ds_label(ds), seed=seed),
             ("mistakes", {"rows": rows, "ncols": ncols, "version": VERSION}), source=tr(b, "source.mistakes"), wide=True)


def _gradcam(b: Builder, sec: Section, ds: str, bb: str, seed: int, cells: list[tuple[CellResult, Any]]) -> None:
    done = [(c, r) for c, r in cells if r.cam_status == "done" and r.cam_items]
    for status in ("skipped", "failed"):
        off = [(c, r) for c, r in cells if r.cam_status == status]
        for reason in dict.fromkeys(r.cam_reason or status for _, r in off):
            which = [c for c, r in off if (r.cam_reason or status) == reason]
            text = tr(b, "skipped.install") if reason.startswith(INSTALL_REASON_PREFIX) else reason
            sec.blocks.append(Paragraph(tr(b, "skipped", cells=b.join(_name(b, c) for c in which), reason=text)))
    if not done:
        return
    first = done[0][1]
    classes = done[0][0].cell.classes
    # The same images in every column: fixed by the test set's sample ids (reportgen.explain.selection).
    order = [it.sample_id for it in first.cam_items]
    by_cell = [{it.sample_id: it for it in r.cam_items} for _, r in done]
    rows = []
    for sid in order:
        base = next(it for it in first.cam_items if it.sample_id == sid)
        panels: list[dict | None] = [{**_png(done[0][0], base.image), "cam": None, "title": ""}]
        for (c, _), items in zip(done, by_cell, strict=True):
            it = items.get(sid)
            panels.append(None if it is None else {
                **_png(c, it.image), "cam": c.images[it.cam],
                "title": tr(b, "panel.cam", predicted=classes[it.predicted], confidence=dec(it.confidence))})
        rows.append({"label": tr(b, "row.true", label=classes[base.true]), "panels": panels})
    header = [tr(b, "col.image")] + [b.strategy_name(c.cell.strategy) for c, _ in done]
    grid = "×".join(str(g) for g in (first.cam_grid or [])) or "?"
    layers = b.join(dict.fromkeys(r.cam_layer or "?" for _, r in done))
    b.figure(sec, f"gradcam-{slug(ds, bb)}",
             tr(b, "cap.gradcam", backbone=b.bb_label(bb), dataset=b.ds_label(ds), seed=seed, layer=layers,
                grid=grid),
             ("gradcam", {"rows": rows, "header": header, "version": VERSION}),
             source=tr(b, "source.gradcam", method=first.cam_method or "GradCAM", package=first.cam_package or "?"),
             wide=True)
    if first.cam_grid and max(first.cam_grid) <= 1:
        sec.blocks.append(Paragraph(tr(b, "grid_one", size=done[0][0].cell.input_size, backbone=b.bb_label(bb))))


__all__ = ["errors"]
