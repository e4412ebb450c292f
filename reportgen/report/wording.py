"""Validity findings in words: ``checks.py`` stores what was found (id, severity, evidence values);
this module turns one into a title, detail and fix in the reader's language."""

from __future__ import annotations

from typing import Any

from ..i18n import t
from ..schema import Finding
from .labels import backbone_label, dataset_label


def describe(f: Finding, lang: str, exp: dict[str, Any] | None = None) -> dict[str, str]:
    """The finding's title, detail and fix as sentences in ``lang`` ("zh-TW" or "en")."""
    values: dict[str, Any] = {**f.scope, **f.evidence}
    if "dataset" in values:
        values["dataset"] = dataset_label(str(values["dataset"]), exp)
    if "backbone" in values:
        values["backbone"] = backbone_label(str(values["backbone"]), exp)
    if "strategy" in values:
        values["strategy"] = t(lang, f"report.strategy.{values['strategy']}.name")
    return {part: t(lang, f"checks.{f.id}.{part}", **values) for part in ("title", "detail", "fix")}


def severity_label(severity: str, lang: str) -> str:
    return t(lang, f"checks.severity.{severity}")
