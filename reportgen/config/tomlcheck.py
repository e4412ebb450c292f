"""Reading an experiment TOML so that every mistake in it is reported at once, in well under a second.

Two things live here (no torch, no numpy):

* :func:`parse_toml` names full-width punctuation typed with a Chinese input method (``，：＝［］「」``)
  outside strings with its line, column and the ASCII character to type, then parses the text with
  those characters replaced, so the rest of the file is still checked in the same run.
* :class:`ConfigErrors`: several :class:`ConfigError` s shown as one message, each in its usual
  file / key / expected / fix form. ``config.load_experiment`` collects into it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import tomllib

from ..errors import ConfigError

# Characters an IME produces where TOML needs ASCII: name and replacement. The full-width forms block
# U+FF01–U+FF5E maps to ASCII by an offset; the ones outside it are listed by hand.
_NAMED = {
    "，": ("full-width comma", ","), "、": ("ideographic comma", ","), "：": ("full-width colon", ":"),
    "；": ("full-width semicolon", ";"), "＝": ("full-width equals sign", "="),
    "［": ("full-width left bracket", "["), "］": ("full-width right bracket", "]"),
    "｛": ("full-width left brace", "{"), "｝": ("full-width right brace", "}"),
    "（": ("full-width left parenthesis", "("), "）": ("full-width right parenthesis", ")"),
    "「": ("corner bracket", '"'), "」": ("corner bracket", '"'), "『": ("white corner bracket", '"'),
    "』": ("white corner bracket", '"'), "“": ("curly quotation mark", '"'), "”": ("curly quotation mark", '"'),
    "‘": ("curly apostrophe", "'"), "’": ("curly apostrophe", "'"), "＂": ("full-width quotation mark", '"'),
    "＇": ("full-width apostrophe", "'"), "。": ("ideographic full stop", "."), "．": ("full-width full stop", "."),
    "＃": ("full-width number sign", "#"), "　": ("ideographic space", " "),
}


def ascii_for(ch: str) -> tuple[str, str] | None:
    """(name, ASCII replacement) of a full-width punctuation or letter, or None for any other character."""
    if ch in _NAMED:
        return _NAMED[ch]
    if "\uff01" <= ch <= "\uff5e":
        return "full-width character", chr(ord(ch) - 0xFEE0)
    return None


def find_fullwidth(text: str) -> list[tuple[int, int, str, str, str]]:
    """``(line, column, char, name, ascii)`` for every full-width character outside strings and comments.

    Inside a string a "，" is text (a Chinese title); outside one it is a typo. A full-width quote
    outside a string is reported and then read as the quote it stands for, so a
    ``name = 「resnet18」`` does not make the scan think the rest of the line is code.
    """
    found = []
    i, line, col = 0, 1, 1
    state = "code"  # code | comment | basic | literal | ml_basic | ml_literal | fw_string
    n = len(text)
    while i < n:
        ch = text[i]
        step = 1
        if state == "code":
            if ch == "#":
                state = "comment"
            elif text.startswith('"""', i):
                state, step = "ml_basic", 3
            elif text.startswith("'''", i):
                state, step = "ml_literal", 3
            elif ch == '"':
                state = "basic"
            elif ch == "'":
                state = "literal"
            elif (hit := ascii_for(ch)) is not None:
                found.append((line, col, ch, hit[0], hit[1]))
                if hit[1] == '"':
                    state = "fw_string"
        elif state == "comment":
            if ch == "\n":
                state = "code"
        elif state == "basic":
            if ch == "\\":
                step = 2
            elif ch == '"' or ch == "\n":
                state = "code"
        elif state == "literal":
            if ch == "'" or ch == "\n":
                state = "code"
        elif state == "ml_basic":
            if ch == "\\":
                step = 2
            elif text.startswith('"""', i):
                state, step = "code", 3
        elif state == "ml_literal":
            if text.startswith("'''", i):
                state, step = "code", 3
        elif state == "fw_string":  # opened by 「 or “: closed by its partner (or a plain quote)
            hit = ascii_for(ch)
            if ch == '"' or (hit is not None and hit[1] == '"'):
                if ch != '"':
                    found.append((line, col, ch, hit[0], hit[1]))  # type: ignore[index]
                state = "code"
            elif ch == "\n":
                state = "code"
        for c in text[i:i + step]:
            if c == "\n":
                line, col = line + 1, 1
            else:
                col += 1
        i += step
    return found


def _replace(text: str, hits: list[tuple[int, int, str, str, str]]) -> str:
    lines = text.split("\n")
    for ln, co, _ch, _name, asc in hits:
        row = lines[ln - 1]
        lines[ln - 1] = row[: co - 1] + asc + row[co:]
    return "\n".join(lines)


def parse_toml(text: str, *, file: Path, errors: list[ConfigError]) -> dict[str, Any] | None:
    """The document, with full-width typos appended to ``errors``; None if it cannot be parsed at all."""
    hits = find_fullwidth(text)
    for ln, co, ch, name, asc in hits:
        errors.append(ConfigError(f'{name} "{ch}" where TOML needs the ASCII "{asc}" (a Chinese input method '
                                  "types the full-width form)", file=file, key=f"line {ln}, column {co}",
                                  expected=f'"{asc}" outside quoted strings',
                                  fix=f'switch the input method to English and type "{asc}" in place of "{ch}"'))
    try:
        return tomllib.loads(_replace(text, hits) if hits else text)
    except tomllib.TOMLDecodeError as exc:
        errors.append(ConfigError(f"not valid TOML: {exc}", file=file, fix="fix the syntax at that line "
                                  "(strings need quotes, tables [name], arrays [a, b])"))
        return None


class ConfigErrors(ConfigError):
    """Every problem found in one experiment file, shown as one message."""

    def __init__(self, errors: list[ConfigError], *, file: Path) -> None:
        super().__init__(f"{len(errors)} problems", file=file)
        self.errors = errors

    def __str__(self) -> str:
        shown = os.path.abspath(self.file) if self.file is not None else ""
        lines = [f"{shown}: {len(self.errors)} problems (all of them; fix each, then run `reportgen validate` "
                 "again):"]
        for i, err in enumerate(self.errors, 1):
            same = err.file is not None and os.path.abspath(err.file) == shown
            body = str(dataclasses.replace(err, file=None) if same else err).split("\n")
            lines.append(f"  {i}. {body[0]}")
            lines += [f"     {b.strip()}" if b.strip() else "" for b in body[1:]]
        return "\n".join(lines)
