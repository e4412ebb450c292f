"""The tasks' premises in words: each ``premise`` claim (reportgen.describe.premise) beside its task.

The outcome was chosen by the facts and verified against the stored predictions before render writes
anything; here it only becomes a sentence (catalog ``premise.<outcome>``), with the numbers formatted as the
comparison tables print them and the pairs table cited by its ref. The sentences go into the task index,
next to the task (:func:`add_to_index`), and into the draft answer of an unanswered task (:func:`draft_lines`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..describe.model import Claim
from ..i18n import t
from . import format as fmt
from .applicability import _reason as applicability_reason
from .builder import Builder
from .model import BulletList, Paragraph, Section

KIND = "premise"


@dataclass
class PremiseList(BulletList):
    """The premise sentences of one task (a bullet list to every writer; ``task`` finds it for the draft)."""

    task: str = ""
    sentences: list[str] = field(default_factory=list)  # the items without "Task E:" (citations resolved alike)


def tr(b: Builder, key: str, **values: Any) -> str:
    return t(b.lang, f"premise.{key}", **values)


def claims_of(b: Builder, task_id: str) -> list[Claim]:
    return [c for c in b.description.claims if c.kind == KIND and c.values.get("task") == task_id]


def _name(b: Builder, side: str, name: str) -> str:
    """A strategy or backbone inside a sentence: a strategy's name lower-cased in English ("fine-tuning")."""
    if side == "backbone":
        return b.bb_label(name)
    text = b.strategy_name(name)
    return text[:1].lower() + text[1:] if b.lang == "en" else text


def _who(b: Builder, v: dict) -> str:
    """The group a premise was checked in: the shared backbone (or strategy), the dataset, the seed."""
    group = _name(b, "strategy" if v["side"] == "backbone" else "backbone", v["group"])
    parts = [group]
    if len(b.datasets()) > 1:
        parts.append(b.ds_label(v["dataset"]))
    if len(b.seeds()) > 1:
        parts.append(tr(b, "seed", seed=v["seed"]))
    return ("、" if b.lang.startswith("zh") else ", ").join(parts)


def word(b: Builder, c: Claim) -> str:
    """One premise claim as a sentence of the report's language."""
    v = c.values
    side = v["side"]
    better = _name(b, side, v["better"])  # the premise is quoted: its first word capitalised
    names = {"better": better[:1].upper() + better[1:], "worse": _name(b, side, v["worse"]), "who": _who(b, v)}
    if c.outcome in ("holds", "not_shown", "contradicted"):
        vb, vw, ci = v.get("value_better"), v.get("value_worse"), list(v.get("ci") or [None, None])
        diff = fmt.table_diff(vb, vw)
        if c.outcome == "contradicted":  # the higher one first, a positive difference, the CI turned round
            diff = None if diff is None else -diff
            ci = [None if ci[1] is None else -ci[1], None if ci[0] is None else -ci[0]]
        diff_text = "—" if diff is None else (f"{diff:+.1f}" if c.outcome == "not_shown" else f"{abs(diff):.1f}")
        return tr(b, c.outcome, vb=fmt.pct(vb), vw=fmt.pct(vw), diff=diff_text,
                  ci=fmt.points_ci(ci).replace("n/a", "—"), p=fmt.pvalue(v.get("p_adjusted")),
                  ref=b.cite(c.refs), **names)
    if c.outcome == "collapsed":
        dead = _join(b, [_name(b, side, n) for n in v.get("collapsed") or []])
        return tr(b, "collapsed", collapsed=dead, ref=b.cite(c.refs), **names)
    if c.outcome == "not_applicable":
        excluded = v.get("excluded") or {}
        missing = [_name(b, side, n) for n in excluded]
        backbone = v["group"] if side == "strategy" else next(iter(excluded))
        reason = applicability_reason(b, next(iter(excluded.values())), backbone)
        key = "not_applicable.one" if len(missing) == 1 else "not_applicable.other"
        return tr(b, key, missing=_join(b, missing), reason=reason, **names)
    if c.outcome == "not_run":
        return tr(b, "not_run", missing=_join(b, [_name(b, side, n) for n in v.get("missing") or []]), **names)
    return tr(b, "untested", **names)


def _join(b: Builder, items: list[str]) -> str:
    return tr(b, "and").join(items)


def add_to_index(b: Builder, sec: Section, *, before: Any = None) -> None:
    """The premise sentences of every task under the task index (before the unanswered-task box)."""
    lists = []
    for task in b.report_cfg.get("tasks") or []:
        sentences = list(dict.fromkeys(word(b, c) for c in claims_of(b, task["id"])))
        if sentences:
            lists.append(PremiseList([tr(b, "item", id=task["id"], sentence=s) for s in sentences], task=task["id"],
                                     sentences=sentences))
    if not lists:
        return
    at = sec.blocks.index(before) if before is not None and before in sec.blocks else len(sec.blocks)
    sec.blocks[at:at] = [Paragraph(tr(b, "intro")), *lists]


def draft_lines(b: Builder, sec: Section | None, task_id: str) -> list[str]:
    """The task's premise sentences as the report prints them (citations resolved), for its draft answer."""
    if sec is None:
        return []
    for block in sec.blocks:
        if isinstance(block, PremiseList) and block.task == task_id:
            return [tr(b, "draft_heading", id=task_id), ""] + [f"- {x}" for x in block.sentences] + [""]
    return []


def warnings(claims: list[Claim]) -> list[str]:
    """Terminal lines for the premises the run contradicts (the author should read them before hand-in)."""
    out = []
    for c in claims:
        if c.kind == KIND and c.outcome == "contradicted":
            v = c.values
            where = f"{v['group']}, {v['dataset']}"
            out.append(f'task {v["task"]}: the run contradicts its premise "{v["expect"]}" ({where}: '
                       f"{v['worse']} scored significantly higher; see the task index)")
    return out
