"""The structured parts of ``[report]``: per-language text and the lab's ``[[report.tasks]]``.

A title, a note or a backbone ``reason`` is either one string (used in every language) or a table
``{"zh-TW" = "…", en = "…"}``. :func:`pick` chooses the text for one report language; it lives here,
beside the parser, so the config and the report agree on the shape (and render stays torch-free).

``[[report.tasks]]`` are the lab's questions: ``id``, ``question``, optional ``sections`` (the report
sections that answer it) and an optional student ``answer`` or ``answer_file`` (Markdown). The file is
read here, at load time, so the results store keeps the answer text and render reads only the store.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..published import checklist_ids
from .expect import parse_expect
from .named_files import check_named_file
from .names import did_you_mean as _did_you_mean

TEXT_LANGS = ("zh-TW", "en")



def task_sections() -> tuple[str, ...]:
    """Section keys a task may point at: every section the report builds (``Builder.section(key)`` titles
    each from the catalog key ``report.section.<key>``, so a section added later is known here too)."""
    from ..i18n import (
        catalog,  # here, not at import: the store's schema imports this module and stays catalog-free
    )

    return tuple(k.removeprefix("report.section.") for k in catalog("en") if k.startswith("report.section."))


TASK_KEYS = ("id", "question", "sections", "answer", "answer_file", "expect")
LANG_TEXT = 'a string, or a table of languages {"zh-TW" = "…", en = "…"}'


def lang_text(v: Any) -> str | dict[str, str]:
    """Validator: one string, or a per-language table with a non-empty string per language given."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and v and all(k in TEXT_LANGS for k in v) and all(
            isinstance(x, str) for x in v.values()):
        return dict(v)
    if isinstance(v, dict):
        unknown = [k for k in v if k not in TEXT_LANGS]
        if unknown:
            raise ValueError(f"{LANG_TEXT}; unknown language {unknown[0]!r} (languages: zh-TW, en)")
    raise ValueError(LANG_TEXT)


def pick(value: Any, lang: str) -> str:
    """The text of ``value`` for ``lang``: a plain string as is; a table's entry for ``lang``, else the other's."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if value.get(lang):
            return str(value[lang])
        # zh-TW falls back to en and en to zh-TW: a half-translated TOML still renders every text.
        return next((str(value[k]) for k in TEXT_LANGS if value.get(k)), "")
    return str(value)


def parse_tasks(items: Any, *, file: Path, read_text) -> list[dict[str, Any]]:
    """``[[report.tasks]]`` → a list of ``{id, question, sections, answer}`` (answer_file read into answer).

    Args:
        items: the raw ``report.tasks`` value.
        file: the TOML file (messages name it; ``answer_file`` is relative to its folder).
        read_text: ``config.read_text_file`` (passed in to keep this module free of an import cycle).

    Raises:
        ConfigError: naming ``report.tasks[i].<key>``, what was expected, and a fix.
    """
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise ConfigError("report.tasks must be an array of tables", file=file, key="report.tasks",
                          expected='[[report.tasks]] blocks with id = "A" and question = "…"',
                          fix='write each task as a [[report.tasks]] block (see experiments/hw4.toml)')
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"report.tasks[{i}]"
        for k in item:
            if k not in TASK_KEYS:
                raise ConfigError(f'unknown key "{k}"', file=file, key=f"{where}.{k}",
                                  expected="one of " + ", ".join(TASK_KEYS),
                                  fix=_did_you_mean(k, TASK_KEYS) or "remove it or check the spelling")
        for req in ("id", "question"):
            if req not in item:
                raise ConfigError(f'missing required key "{req}"', file=file, key=f"{where}.{req}",
                                  expected='an id such as "A" or "1a"' if req == "id" else LANG_TEXT,
                                  fix=f"add {req} = \"…\" to this [[report.tasks]] block")
        tid = item["id"]
        if not isinstance(tid, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", tid):
            raise ConfigError(f"bad value {tid!r}", file=file, key=f"{where}.id",
                              expected='a short id of letters, digits, "_", "-" or "." (e.g. "A", "task-2")',
                              fix='write e.g. id = "A"')
        if tid in seen:
            raise ConfigError(f'task id "{tid}" is declared twice', file=file, key=f"{where}.id",
                              fix="give each [[report.tasks]] block a distinct id")
        seen.add(tid)
        task: dict[str, Any] = {"id": tid, "question": _text(item["question"], file=file, key=f"{where}.question")}
        if not pick(task["question"], "en").strip():
            raise ConfigError("the question is empty", file=file, key=f"{where}.question",
                              expected="the lab's question in your own words", fix='write question = "…"')
        task["sections"] = _sections(item.get("sections", []), file=file, where=where)
        if "answer" in item and "answer_file" in item:
            raise ConfigError("both answer and answer_file are given", file=file, key=f"{where}.answer_file",
                              expected="one of them", fix="keep the answer inline or in the file, not both")
        task["answer"] = _text(item["answer"], file=file, key=f"{where}.answer") if "answer" in item else ""
        if "answer_file" in item:
            task["answer"] = _answer_file(item["answer_file"], file=file, key=f"{where}.answer_file",
                                          read_text=read_text)
        if "expect" in item:  # names checked against the experiment's lists once they are read (parse._load)
            task["expect"] = parse_expect(item["expect"], file=file, key=f"{where}.expect")
        out.append(task)
    return out


def _text(v: Any, *, file: Path, key: str) -> str | dict[str, str]:
    try:
        return lang_text(v)
    except ValueError as exc:
        raise ConfigError(f"bad value {v!r}", file=file, key=key, expected=str(exc),
                          fix='write key = "…" or key = {"zh-TW" = "…", en = "…"}') from None


def _sections(v: Any, *, file: Path, where: str) -> list[str]:
    valid = task_sections()
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise ConfigError(f"bad value {v!r}", file=file, key=f"{where}.sections",
                          expected='a list of report section keys, e.g. ["results", "comparison"]',
                          fix="one of " + ", ".join(valid))
    for j, s in enumerate(v):
        if s not in valid:
            raise ConfigError(f'unknown report section "{s}"', file=file, key=f"{where}.sections[{j}]",
                              expected="one of " + ", ".join(valid),
                              fix=_did_you_mean(s, valid) or "use one of the section keys above")
    return list(dict.fromkeys(v))  # a section named twice is shown once


def _answer_file(v: Any, *, file: Path, key: str, read_text) -> str:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"bad value {v!r}", file=file, key=key,
                          expected="the path of a Markdown file, relative to the experiment file",
                          fix='write answer_file = "answers/task-a.md"')
    path = Path(v).expanduser()
    path = path if path.is_absolute() else Path(os.path.normpath(file.parent / path))
    if not path.is_file():
        raise ConfigError("answer file not found", file=file, key=key, expected=f"a Markdown file at {path}",
                          fix="create it, fix the path (relative to the experiment file), or remove the key")
    check_named_file(path, toml=file, key=key, what="answer file")  # only what sits beside the TOML
    return read_text(path, what="answer file", key=key, file=file)


def parse_checklist(table: Any, *, file: Path) -> dict[str, str | dict[str, str]]:
    """``[report.checklist]`` → ``{item id: text}``: the author's answers to CLAIM / TRIPOD+AI items the run
    cannot answer (``claim_5 = "retrospective"``, or a per-language table). Keys are the ids in
    ``reportgen/published/checklists.toml``; a misspelt one is an error naming it, with the nearest id.

    Raises:
        ConfigError: naming ``report.checklist.<key>``, what was expected, and a fix.
    """
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError("report.checklist must be a table", file=file, key="report.checklist",
                          expected='[report.checklist] with lines such as claim_5 = "retrospective"',
                          fix="write the answers under a [report.checklist] header")
    ids = checklist_ids()
    out: dict[str, str | dict[str, str]] = {}
    for k, v in table.items():
        if k not in ids:
            close = _did_you_mean(k, ids)
            raise ConfigError(f'unknown checklist item "{k}"', file=file, key=f"report.checklist.{k}",
                              expected="claim_1 … claim_44 (CLAIM 2024) or " + ", ".join(
                                  i for i in ids if i.startswith("tripod_")),
                              fix=close or "use an item id listed in docs/checklists.md")
        out[k] = _text(v, file=file, key=f"report.checklist.{k}")
    return out
