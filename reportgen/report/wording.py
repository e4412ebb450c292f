"""Validity findings in words: ``checks.py`` stores what was found (id, severity, evidence values);
this module turns one into a title, detail and fix in the reader's language."""

from __future__ import annotations

from typing import Any

from ..i18n import catalog, t
from ..store.schema import Finding
from .labels import backbone_label, dataset_label
from .prose import metric_label

# Evidence values that are metric keys (``val_macro_f1``): worded ("validation macro-F1"), never printed raw.
METRIC_VALUES = ("selection_metric", "other_metric")


def describe(f: Finding, lang: str, exp: dict[str, Any] | None = None) -> dict[str, str]:
    """The finding's title, detail and fix as sentences in ``lang`` ("zh-TW" or "en")."""
    values: dict[str, Any] = {**f.scope, **f.evidence}
    if "dataset" in values:
        values["dataset"] = dataset_label(str(values["dataset"]), exp)
    if "backbone" in values:
        values["backbone"] = backbone_label(str(values["backbone"]), exp)
    if "strategy" in values:
        values["strategy"] = t(lang, f"report.strategy.{values['strategy']}.name")
    for key in METRIC_VALUES:
        if isinstance(values.get(key), str):
            values[key] = metric_label(lang, values[key])
    out = {}
    for part in ("title", "detail", "fix"):
        # A finding may ask for a variant of one part (advice that fits the strategy, or a class-weighted loss
        # already used): ``variant_<part>`` in its evidence picks ``checks.<id>.<part>.<variant>`` when it exists.
        variant = values.get(f"variant_{part}")
        key = f"checks.{f.id}.{part}"
        if variant and f"{key}.{variant}" in catalog(lang):
            key = f"{key}.{variant}"
        out[part] = t(lang, key, **values)
    return out


def severity_label(severity: str, lang: str) -> str:
    return t(lang, f"checks.severity.{severity}")
