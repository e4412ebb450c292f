"""Message catalogs: every fixed, user-visible string in the report and in findings.

Catalogs are JSON files named ``<domain>.<lang>.json`` in this folder (``report.en.json``,
``report.zh-TW.json``, ``checks.en.json`` ...). Every domain must have the same keys and the
same ``{placeholders}`` in every language; ``tests/unit/test_i18n.py`` enforces it.
"""

from __future__ import annotations

import json
import re
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
    zh-TW text is spaced by one rule after the values are filled in (:func:`zh_spacing`).
    """
    text = catalog(lang)[key].format(**values)
    return zh_spacing(text) if lang == "zh-TW" else text


_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_FULL = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2014\u2026"  # 、。「」（），：；／—…
_SPACE_BETWEEN_WIDE = re.compile(f"(?<=[{_HAN}{_FULL}]) +(?=[{_HAN}{_FULL}])")
_SPACE_AFTER_FULL = re.compile(f"(?<=[{_FULL}]) +")
_SPACE_BEFORE_FULL = re.compile(f"(?<=[^ ]) +(?=[{_FULL}])")
_HAN_LATIN = re.compile(f"(?<=[{_HAN}])(?=[A-Za-z0-9†‡])|(?<=[A-Za-z0-9%†‡)])(?=[{_HAN}])")


def zh_spacing(text: str) -> str:
    """One spacing rule for Chinese text, as a careful Taiwanese student types it: one space between Han
    characters and Latin letters or digits ("使用 EfficientNet-Lite0 時"), none between two Han characters
    and none beside full-width punctuation ("微調／從頭訓練 依" → "微調／從頭訓練依"). Catalog messages put
    spaces around their placeholders for Latin values; a value that is itself Chinese (a strategy's name)
    would otherwise leave a stray space."""
    text = _SPACE_BETWEEN_WIDE.sub("", text)
    text = _SPACE_AFTER_FULL.sub("", text)
    text = _SPACE_BEFORE_FULL.sub("", text)
    return _HAN_LATIN.sub(" ", text)


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a message (used by the catalog consistency test)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def domains() -> set[str]:
    return {p.name.split(".")[0] for p in _HERE.glob("*.json")}
