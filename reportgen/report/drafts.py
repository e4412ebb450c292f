"""What ``render`` tells the author before hand-in, and the draft answers it writes beside the report.

The report itself never carries instructions to its author ("add reason = …"): a missing answer, reason,
author or student ID is a line on the terminal (:func:`author_warnings`) and a neutral line in the report.
For each unanswered task, :func:`write_drafts` writes ``answers/task-<id>.draft.md`` beside the report (one
per language: ``task-<id>.draft.<lang>.md`` for the second), holding the report's own sentences from the
sections the task names, for the author to edit and point ``answer_file`` at. A draft the author has
edited is never overwritten: each draft records a hash of what reportgen wrote, and is replaced only while
its text still matches it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from ..config.report import pick
from ..store import atomic_write_text, safepath

FOLDER = "answers"
_MARK = re.compile(r"^<!-- reportgen draft ([0-9a-f]{16})[^\n]*-->\n")


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def draft_paths(report: Path, task_id: str, langs: list[str]) -> dict[str, Path]:
    """Draft file per language, beside the first language's report: the first unsuffixed (as report.html)."""
    folder = report.parent / FOLDER
    return {lg: folder / (f"task-{task_id}.draft.md" if i == 0 else f"task-{task_id}.draft.{lg}.md")
            for i, lg in enumerate(langs)}


def edited(path: Path) -> bool:
    """Whether an existing draft was changed after reportgen wrote it (or is not a reportgen draft)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True
    m = _MARK.match(text)
    return m is None or m.group(1) != _digest(text[m.end():])


def write_drafts(contexts: list[Any], report: Path, run_dir: Path) -> tuple[list[Path], list[Path]]:
    """Write the draft answers of every context's unanswered tasks; return (written, kept because edited)."""
    langs = [ctx.lang for ctx in contexts]
    written, kept = [], []
    for ctx in contexts:
        for tid, body in ctx.drafts.items():
            target = draft_paths(report, tid, langs)[ctx.lang]
            if target.absolute().is_relative_to(run_dir.absolute()):
                safepath.check_inside(run_dir.absolute(), target.absolute())
            safepath.check_output(target)
            if target.exists() and edited(target):
                kept.append(target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            mark = (f"<!-- reportgen draft {_digest(body)}: rewritten by `reportgen render` until you edit it; "
                    f"set answer_file to this file in [[report.tasks]] id = \"{tid}\" -->\n")
            atomic_write_text(target, mark + body)
            written.append(target)
    return written, kept


# Values copied from a template rather than written by the author: "Your Name", "姓名", an ID of zeros or x's.
_PLACEHOLDER_WORDS = {"your name", "name", "author", "student name", "姓名", "你的名字", "學生姓名", "作者"}


def looks_like_placeholder(value: str) -> bool:
    v = value.strip().casefold()
    return v in _PLACEHOLDER_WORDS or (len(v) >= 3 and set(v) <= set("0x*?#-_ ")) or v.startswith(("<", "{", "todo"))


def author_warnings(experiment: dict[str, Any], unanswered: list[str], missing: list[str], *,
                    checklist_open: list[str] | None = None) -> list[str]:
    """Terminal lines: what the author still has to write (task answers, backbone reasons, cover fields, open
    reporting-checklist items) and which planned runs are unfinished. The one place these notes are worded."""
    out = []
    report = experiment.get("report") or {}
    tasks = {t["id"]: t for t in report.get("tasks") or []}
    for tid in unanswered:
        question = pick(tasks.get(tid, {}).get("question"), "en")
        out.append(f'task {tid} has no answer ("{question}"): write answer = "…" or answer_file = "…" in its '
                   "[[report.tasks]] block (a draft is written beside the report)")
    for bb in experiment.get("backbones") or []:
        if not pick(bb.get("reason"), "en").strip():
            out.append(f'backbone {bb.get("name")} has no reason: add reason = "…" to its [[backbones]] entry '
                       "(the report says no reason was stated)")
    for key in ("author", "student_id"):
        value = str(report.get(key) or "").strip()
        if not value:
            out.append(f'[report] {key} is empty: the cover shows no {key.replace("_", " ")}; '
                       f'add {key} = "…" to [report]')
        elif looks_like_placeholder(value):
            out.append(f'[report] {key} = "{value}" looks like a template placeholder and is printed on the cover; '
                       f"write your own {key.replace('_', ' ')}")
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        out.append(f"{len(missing)} planned " + ("run is" if len(missing) == 1 else "runs are")
                   + f" unfinished and not in the report: {shown} (see `reportgen status`; `reportgen run` "
                   "finishes them)")
    if checklist_open:  # reviewers check these; the author should see the gaps before submitting
        out.append(f"reporting-checklist items still open ({len(checklist_open)}): {', '.join(checklist_open)} "
                   '(answer them in [report.checklist], e.g. claim_5 = "retrospective")')
    return out
