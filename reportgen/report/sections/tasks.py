"""The lab's tasks, answered: a task index at the front, the student's answers under their questions.

The index is created first and filled in last, once every section exists: a task counts as answered only
when the student wrote an answer (``answer`` or ``answer_file``). A section holding generated evidence
(a table, a figure, findings) is shown as such, never as an answer. Unanswered tasks are listed in a
neutral box under the index (no instructions to the author: those go to the terminal) and returned, so
``render`` can warn and write a draft answer beside the report (:func:`draft`), never into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from ...config.report import pick
from ...describe.claims_shown import outcome_of_list, task_claims
from ...i18n import t
from .. import premise
from ..builder import Builder
from ..format import markdown
from ..model import BulletList, Cell, Figure, Findings, Note, Paragraph, Section, Table

INDEX_REF = "task-index"  # the task index table's ref (Builder.refs) and the section's anchor suffix


@dataclass
class TaskAnswer:
    """A task's question and the student's Markdown answer, shown in the section that answers it."""

    anchor: str
    label: str
    question: str
    html: Markup
    kind: str = "task_answer"


@dataclass
class Unanswered:
    """The box listing tasks without an answer or evidence (empty items: the template shows nothing)."""

    title: str
    items: list[str]
    kind: str = "unanswered"


@dataclass
class TaskIndex:
    """What :func:`start` made and :func:`finish` fills in."""

    section: Section
    table: Table
    box: Unanswered


def _tasks(b: Builder) -> list[dict[str, Any]]:
    return list(b.report_cfg.get("tasks") or [])


def tr(b: Builder, key: str, **values: Any) -> str:
    return t(b.lang, f"tasks.{key}", **values)


def start(b: Builder) -> TaskIndex | None:
    """The task index section (before the abstract); None when the experiment declares no task."""
    if not _tasks(b):
        return None
    sec = _section(b, INDEX_REF, "section")
    sec.blocks.append(Paragraph(tr(b, "intro")))
    header = [tr(b, "col.id"), tr(b, "col.question"), tr(b, "col.where"), tr(b, "col.status")]
    table = b.table(sec, INDEX_REF, tr(b, "caption"), header, [], source="run.json experiment.report.tasks",
                    numeric_from=99)
    box = Unanswered(title=t(b.lang, "reportsource.unanswered_title"), items=[])
    sec.blocks.append(box)
    return TaskIndex(section=sec, table=table, box=box)


def answers_section(b: Builder) -> None:
    """A "Task answers" section for answers whose task names no section (before the discussion)."""
    loose = [task for task in _tasks(b) if answered(b, task) and not task.get("sections")]
    if not loose:
        return
    sec = _section(b, "task-answers", "answers_section")
    for task in loose:
        sec.blocks.append(_answer_block(b, task))


def _section(b: Builder, key: str, title_key: str) -> Section:
    """A numbered section titled from this domain's catalog (Builder.section reads the report domain)."""
    sec = Section(anchor=f"sec-{key}", number=len(b.sections) + 1, title=tr(b, title_key),
                  title_alt="" if b.lang == "en" else t("en", f"tasks.{title_key}"))
    b.sections.append(sec)
    return sec


def _answer_block(b: Builder, task: dict[str, Any]) -> TaskAnswer:
    return TaskAnswer(anchor=f"task-answer-{task['id']}", label=tr(b, "label", id=task["id"]),
                      question=pick(task["question"], b.lang), html=markdown(pick(task["answer"], b.lang)))


def answered(b: Builder, task: dict[str, Any]) -> bool:
    """The task's status claim in this language (claims_shown.task_claims): answered only when its answer,
    stripped, is not empty — a blank answer is never marked ✓."""
    claims = task_claims(b.run, [b.lang])
    return outcome_of_list(claims, f"task:{task['id']}:{b.lang}") == "answered"


def _key(sec: Section) -> str:
    return sec.anchor.removeprefix("sec-")


def has_evidence(sec: Section) -> bool:
    """Generated tables, figures or validity findings, or the student's own note, in this section."""
    return any(isinstance(block, (Table, Figure, Findings, Note)) for block in sec.blocks)


def finish(b: Builder, index: TaskIndex | None) -> list[str]:
    """Fill the index (links, check marks), place answers in their sections; return the unanswered ids."""
    if index is None:
        return []
    by_key = {_key(s): s for s in b.sections}
    rows, unanswered = [], []
    for task in _tasks(b):
        targets = [by_key[k] for k in task.get("sections") or [] if k in by_key]
        answer = pick(task.get("answer"), b.lang).strip() if answered(b, task) else ""
        if answer and targets:
            targets[0].blocks.append(_answer_block(b, task))
        if answer and not targets and "task-answers" in by_key:
            targets = [by_key["task-answers"]]
        links = [(f"#{s.anchor}", f"{s.number}. {s.title}") for s in targets]
        if answer:  # only the student's answer answers a task; evidence alone is shown as evidence
            status = Cell("✓ " + tr(b, "answered"), cls="task-done")
        else:
            evidence = any(has_evidence(s) for s in targets)
            status = Cell("○ " + (t(b.lang, "reportsource.open_evidence") if evidence else tr(b, "open")),
                          cls="task-open")
            unanswered.append(task["id"])
        where = Cell("" if links else tr(b, "no_section"), cls="task-where", links=links)
        rows.append([Cell(task["id"], cls="task-id"), Cell(pick(task["question"], b.lang)), where, status])
    index.table.rows = rows
    premise.add_to_index(b, index.section, before=index.box)  # what the run says of each task's premise
    index.box.items = [b.labelled(tid, pick(next(x['question'] for x in _tasks(b) if x['id'] == tid), b.lang))
                       for tid in unanswered]
    if not unanswered:
        index.section.blocks.remove(index.box)
    return unanswered


def _prose(sec: Section) -> list[str]:
    """The generated sentences of a section: its paragraphs and list items (not the author's notes)."""
    out: list[str] = []
    for block in sec.blocks:
        if isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, BulletList):
            out.extend(block.items)
    return [x for x in out if x.strip()]


def draft(b: Builder, task_id: str) -> str:
    """A Markdown draft answer to an unanswered task: the report's own sentences from the sections it names.

    Called after layout (citations read "Table 4"), so every sentence is the one printed in the report,
    whose numbers the render has checked against the store.
    """
    task = next(x for x in _tasks(b) if x["id"] == task_id)
    by_key = {_key(s): s for s in b.sections}
    targets = [by_key[k] for k in task.get("sections") or [] if k in by_key]
    lines = [f"# {t(b.lang, 'reportsource.draft_title', id=task_id, question=pick(task['question'], b.lang))}", ""]
    lines += premise.draft_lines(b, by_key.get(INDEX_REF), task_id)  # whether the run supports its premise
    if not targets:
        return "\n".join(lines + [t(b.lang, "reportsource.draft_no_section"), ""])
    names = b.join(f"{s.number}. {s.title}" for s in targets)
    lines += [t(b.lang, "reportsource.draft_intro", id=task_id, sections=names), ""]
    sentences = [(sec, x) for sec in targets for x in _prose(sec)]
    if not sentences:
        return "\n".join(lines + [t(b.lang, "reportsource.draft_none"), ""])
    for sec in targets:
        found = _prose(sec)
        if found:
            lines += [f"## {sec.number}. {sec.title}", ""] + [f"- {x}" for x in found] + [""]
    return "\n".join(lines)
