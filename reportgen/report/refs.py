"""References by identity: a citation names a table or figure by its ref; numbers are given at layout.

A citation is a placeholder (:func:`ref_token`) inside any string of the report's view models. After
every section is built, :func:`layout` numbers tables and figures in reading order (the order a reader
meets them: section by section, block by block) and replaces each placeholder by the label of the
element its ref names. Numbering once, after the fact, is what makes "(Table 14)" always the table
that holds the cited numbers: no section has to predict how many tables come before it, and the
abstract (built last) cites tables further down without special care.

The placeholder uses Unicode private-use characters, which no catalog or user text contains, so a
placeholder can never be mistaken for text, and one left unresolved is detected rather than printed.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from markupsafe import Markup

from ..errors import RenderError
from ..i18n import t
from .model import Figure, Table

OPEN, SEP, CLOSE = "\ue000", "\ue002", "\ue001"
ANCHOR = "\ue003"  # marks a placeholder that resolves to the element's anchor ("#tab-14"), not its label
_TOKEN = re.compile(f"{OPEN}([^{CLOSE}]*){CLOSE}")
_SKIP = {"job", "uri"}  # a figure's plotting data and drawn image hold no prose


def ref_token(keys: tuple[str, ...] | list[str]) -> str:
    """The placeholder of a citation of the elements registered under ``keys`` (see :func:`layout`)."""
    if not keys:
        raise ValueError("a citation needs at least one ref")
    return OPEN + SEP.join(keys) + CLOSE


def anchor_token(key: str) -> str:
    """The placeholder of a link target (``#tab-14``) of the element registered under ``key``, for links built
    before layout numbers the elements (the checklist and task index link to tables by identity too)."""
    return OPEN + ANCHOR + key + CLOSE


def number(sections: list[Any], lang: str) -> list[Table | Figure]:
    """Give every table and figure its number, label and anchor in reading order; return them in that order."""
    n_tab = n_fig = 0
    out: list[Table | Figure] = []
    for sec in sections:
        for block in sec.blocks:
            if isinstance(block, Table):
                n_tab += 1
                block.number, block.anchor = n_tab, f"tab-{n_tab}"
                block.label = t(lang, "report.ui.table_label", n=n_tab)
            elif isinstance(block, Figure):
                n_fig += 1
                block.number, block.anchor = n_fig, f"fig-{n_fig}"
                block.label = t(lang, "report.ui.figure_label", n=n_fig)
            else:
                continue
            out.append(block)
    return out


def layout(sections: list[Any], refs: dict[str, Table | Figure], lang: str) -> None:
    """Number tables and figures, then resolve every citation placeholder in every string of ``sections``.

    Raises:
        RenderError: a citation names no element that is in the report (a bug in the sentence that cites
            it: the report would otherwise print a wrong number or none).
    """
    placed = {id(el) for el in number(sections, lang)}
    sep = "、" if lang.startswith("zh") else ", "

    def resolve(text: str) -> str:
        def one(m: re.Match) -> str:
            keys = m.group(1).split(SEP)
            if keys[0].startswith(ANCHOR):
                el = refs.get(keys[0][len(ANCHOR):])
                if el is None or id(el) not in placed:
                    raise RenderError(f"a link points at {keys[0][len(ANCHOR):]!r}, but no table or figure in this "
                                      "report has that ref", key="report references",
                                      fix="this is a bug in reportgen: please report it with the run folder")
                return f"#{el.anchor}"
            found = {id(el): el for k in keys if (el := refs.get(k)) is not None and id(el) in placed}
            # Tables before figures, each in number order: "Table 2, Table 25, Figure 12".
            labels = [el.label for el in sorted(found.values(), key=lambda el: (isinstance(el, Figure), el.number))]
            if not labels:
                raise RenderError(f"a sentence cites {' or '.join(repr(k) for k in keys)}, but no table or "
                                  "figure in this report has that ref", key="report references",
                                  fix="this is a bug in reportgen: please report it with the run folder")
            return sep.join(labels)

        return _TOKEN.sub(one, text)

    for sec in sections:
        _walk(sec, resolve)


def _walk(obj: Any, resolve) -> Any:
    """Replace placeholders in place in a view-model tree (dataclasses, lists); returns the new value."""
    if isinstance(obj, Markup):
        return Markup(resolve(str(obj))) if OPEN in obj else obj
    if isinstance(obj, str):
        return resolve(obj) if OPEN in obj else obj
    if isinstance(obj, list):
        for i, x in enumerate(obj):
            obj[i] = _walk(x, resolve)
        return obj
    if isinstance(obj, tuple):
        return tuple(_walk(x, resolve) for x in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if f.name not in _SKIP:
                setattr(obj, f.name, _walk(getattr(obj, f.name), resolve))
    return obj


def unresolved(text: str) -> bool:
    """Whether ``text`` (e.g. rendered HTML) still holds a citation placeholder."""
    return OPEN in text or CLOSE in text
