"""Validity findings (worded here, per language, from the data checks.py stored) and the provenance appendix."""

from __future__ import annotations

from ...describe.claims_shown import shown_findings
from ...i18n import t
from .. import applicability
from ..builder import Builder
from ..discussion import plural, zh_spacing
from ..format import NA, plain
from ..model import Code, FindingItem, Findings, Paragraph
from ..wording import describe, severity_label
from . import many_findings, percell, selection


def findings(b: Builder) -> None:
    sec = b.section("findings")
    found = shown_findings(b.description)  # the findings the description's claims name (verified by the gate)
    if not found:
        sec.blocks.append(Paragraph(b.tr("findings.none")))
        return
    sec.blocks.append(Paragraph(plural(b, "findings_intro", len(found))))
    items = []
    for f in found:
        text = describe(f, b.lang, b.exp)
        if b.lang.startswith("zh"):
            text = {k: zh_spacing(v) for k, v in text.items()}
        seeds = len(b.seeds()) > 1  # the seed tells two findings of one configuration apart
        scope = b.join(_scope_label(b, k, v) for k, v in f.scope.items()
                       if k != "cell_id" and (k != "seed" or seeds))
        scope = b.tr("finding_scope", scope=scope) if scope else ""
        items.append(FindingItem(severity=f.severity, severity_label=severity_label(f.severity, b.lang),
                                 title=text["title"], detail=text["detail"], fix=text["fix"], scope=scope))
    if percell.long(len(items)):  # hundreds of runs: one item per check and configuration, every run's in the appendix
        items = many_findings.grouped(b, sec, found, items)
    sec.blocks.append(Findings(items))


def _scope_label(b: Builder, key: str, value: object) -> str:
    if key == "seed":
        return t(b.lang, "claims.seed_label", seed=value)
    label = {"dataset": b.ds_label, "backbone": b.bb_label, "strategy": b.strategy_name}.get(key)
    return label(str(value)) if label else str(value)


def appendix(b: Builder) -> None:
    sec = b.section("appendix")
    env = b.run.cells[0].env if b.run.cells else None
    commits = sorted({c.env.git_commit for c in b.run.cells if c.env.git_commit})
    run = b.run.run
    rows = [[b.tr("prov.run"), run.name], [b.tr("prov.created"), run.created_at], [b.tr("prov.source"), run.source],
            [b.tr("prov.cells"), f"{len(b.run.cells)} / {len(run.cells)}"],
            [b.tr("prov.seeds"), plain(b.seeds())], [b.tr("prov.git"), ", ".join(commits) or NA],
            [b.tr("prov.reportgen"), plain(env.reportgen if env else None)]]
    rows += [[b.tr(f"env.{k}"), plain(getattr(env, k) if env else None)]
             for k in ("python", "torch", "torchvision", "cuda", "device")]
    b.table(sec, "provenance", b.tr("cap.provenance"), [b.tr("col.setting"), b.tr("col.value")], rows,
            source="run.json, cells/*/env.json", numeric_from=99)
    tool_notes = _tool_notes(b)
    if tool_notes:
        sec.blocks.append(Paragraph(("" if b.lang.startswith("zh") else " ").join(tool_notes)))
    if b.detail == "brief":  # the cell list, per-layer tables and the TOML: in the full report and the store
        sec.blocks.append(Paragraph(t(b.lang, "brief.appendix_out")))
        return
    status = [[c.id, b.tr("ui.done"), c.result.finished_at] for c in b.run.cells]
    status += [[cid, applicability.missing_cell(b, cid), NA] for cid in b.run.missing]
    b.table(sec, "cells", b.tr("cap.cells"), [b.tr("col.cell"), b.tr("col.status"), b.tr("col.finished")],
            status, source="run.json cells, cells/*/result.json", numeric_from=99)
    selection.layer_tables(b, sec)
    toml = b.run.experiment_toml if b.run.experiment_toml is not None else b.tr("ui.no_toml")
    sec.blocks.append(Code(toml, b.tr("cap.toml")))


def _tool_notes(b: Builder) -> list[str]:
    """A counting tool that failed or disagrees is a note about the tool, not a finding about the model."""
    out, seen = [], set()
    for c in b.run.cells:
        a = c.arch
        if a.backbone in seen:
            continue
        seen.add(a.backbone)
        for tool, err in a.macs_errors.items():
            out.append(b.tr("appendix.tool_failed", tool=tool, backbone=b.bb_label(a.backbone), error=err))
    return out
