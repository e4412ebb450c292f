"""What applies: which backbone × strategy combinations were planned, and how to mark the ones without results.

Three states a grader must be able to tell apart, never printed as one "not run":

- **not applicable** (不適用): excluded by design, e.g. fine-tuning a backbone with ``weights = "none"``, or an
  ``[[exclude]]`` entry. The planner recorded them in run.json ``skipped`` with the reason; the report lists
  them ONCE, with the reason, where the plan is described (:func:`plan_note`), and leaves them out of every
  table and section elsewhere (:meth:`Builder.backbones` / :meth:`Builder.strategies` and :func:`applies`).
- **failed** (失敗): planned, and its last attempt left ``failed.json`` in the cell folder (the store's reader
  notes it: ``RunResults.failed``).
- **not run** (未執行): planned, neither finished nor failed (interrupted, or still to run).
"""

from __future__ import annotations

from typing import Any

from ..i18n import t
from .model import BulletList, Cell, Paragraph, Section

NEEDS_WEIGHTS = "needs pretrained weights"  # matrix.build_cells words the reason this way
EXCLUDED = "excluded"


def tr(b: Any, key: str, **values: Any) -> str:
    return t(b.lang, f"applicability.{key}", **values)


def _skipped(b: Any) -> list[Any]:
    return list(getattr(b.run.run, "skipped", None) or [])


def applies(b: Any, *, dataset: str, backbone: str, strategy: str) -> bool:
    """False when every seed of this combination was left out by design (and none finished anyway)."""
    if b.cells(dataset=dataset, backbone=backbone, strategy=strategy):
        return True
    skipped = {s.seed for s in _skipped(b) if (s.dataset, s.backbone, s.strategy) == (dataset, backbone, strategy)}
    return not skipped or not set(b.seeds()) <= skipped


def state(b: Any, cell_id: str) -> str:
    """"failed" or "not_run" for a planned cell without a result."""
    return "failed" if cell_id in b.run.failed else "not_run"


def missing_cell(b: Any, cell_id: str | None) -> Cell:
    """The table cell of a planned run without a result: failed or not run (never "not applicable")."""
    key = state(b, cell_id) if cell_id else "not_run"
    return Cell(tr(b, key), cls="na fail" if key == "failed" else "na")


def na_cell(b: Any) -> Cell:
    return Cell(tr(b, "not_applicable"), cls="na")


def _reason(b: Any, reason: str, backbone: str) -> str:
    if NEEDS_WEIGHTS in reason:
        return tr(b, "reason.no_weights", backbone=b.bb_label(backbone))
    if reason.startswith(EXCLUDED):
        return tr(b, "reason.excluded")
    return tr(b, "reason.other")


def plan_note(b: Any, sec: Section) -> None:
    """The combinations left out by design, each with its reason, once (in the section describing the plan)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for s in _skipped(b):
        if b.cells(dataset=s.dataset, backbone=s.backbone, strategy=s.strategy):
            continue
        key = (s.dataset, s.backbone, _reason(b, s.reason, s.backbone))
        if s.strategy not in groups.setdefault(key, []):
            groups[key].append(s.strategy)
    if not groups:
        return
    multi_ds = len(b.datasets()) > 1
    items = []
    for (ds, bb, reason), strategies in groups.items():
        what = f"{b.ds_label(ds)}, {b.bb_label(bb)}" if multi_ds else b.bb_label(bb)
        items.append(tr(b, "item", what=what, strategies=b.join(b.strategy_name(s) for s in strategies),
                        reason=reason))
    sec.blocks.append(Paragraph(tr(b, "intro")))
    sec.blocks.append(BulletList(items))
