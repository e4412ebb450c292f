"""Message catalogs: every fixed, user-visible string in the report and in findings.

Catalogs are JSON files named ``<domain>.<lang>.json`` in this folder (``report.en.json``,
``report.zh-TW.json``, ``checks.en.json`` ...). Every domain must have the same keys and the
same ``{placeholders}`` in every language; ``tests/unit/test_i18n.py`` enforces it.
"""

from __future__ import annotations

import json
import string
from functools import cache
from pathlib import Path

LANGS = ("zh-TW", "en")
_HERE = Path(__file__).parent


@cache
def catalog(lang: str) -> dict[str, str]:
    """All messages for one language, merged across domains (keys are namespaced by domain)."""
    if lang not in LANGS:
        raise KeyError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    merged: dict[str, str] = {}
    for path in sorted(_HERE.glob(f"*.{lang}.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def t(lang: str, key: str, /, **values: object) -> str:
    """Translate ``key`` into ``lang`` and fill its ``{placeholders}``.

    A missing key or placeholder raises (KeyError) instead of printing a raw key into a report.
    """
    return catalog(lang)[key].format(**values)


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a message (used by the catalog consistency test)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def domains() -> set[str]:
    return {p.name.split(".")[0] for p in _HERE.glob("*.json")}
