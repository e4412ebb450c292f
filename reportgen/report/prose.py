"""Identifiers in words: what the store records as ``"val_auc"`` or ``"eval, then train"``, as a reader reads it.

Datasets and backbones have their display labels in :mod:`labels`; this module covers the other
identifiers that reach sentences and captions (selection metrics, strategy semantics), through the
``tasks`` catalog so the zh-TW report never prints a raw English value. An identifier the catalog does
not know is shown as stored: a new metric appears as its name instead of failing the render.
"""

from __future__ import annotations

from typing import Any

from ..i18n import catalog, t
from .format import plain


def _worded(lang: str, key: str, fallback: str) -> str:
    return t(lang, key) if key in catalog(lang) else fallback


def metric_label(lang: str, metric: str) -> str:
    """``val_auc`` → "validation AUC" / "驗證集 AUC"."""
    return _worded(lang, f"tasks.metric.{metric}", metric)


def semantic_label(lang: str, kind: str, value: Any) -> str:
    """A strategy-semantics value (``kind``: init, trainable, mode) in words: "pretrained" → "ImageNet 預訓練權重"."""
    return _worded(lang, f"tasks.semantics.{kind}.{plain(value)}", plain(value))
