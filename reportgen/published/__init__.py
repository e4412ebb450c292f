"""Shipped, cited reference data: published baselines (``baselines.toml``, read by :mod:`.baselines`) and the
reporting checklists (``checklists.toml``). Imports nothing from the rest of reportgen, so the config parser
can validate ``[report.checklist]`` keys without an import cycle; no torch."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import tomllib

CHECKLISTS = Path(__file__).with_name("checklists.toml")


@cache
def checklist_items() -> tuple[dict[str, Any], ...]:
    """The checklist items in order (CLAIM 2024 items 1–44, then the TRIPOD+AI topics)."""
    return tuple(tomllib.loads(CHECKLISTS.read_text(encoding="utf-8"))["items"])


def checklist_ids() -> tuple[str, ...]:
    """Every key ``[report.checklist]`` accepts (``claim_1`` … ``claim_44``, ``tripod_<topic>``)."""
    return tuple(i["id"] for i in checklist_items())


BASELINES = Path(__file__).with_name("baselines.toml")
_SIZED = re.compile(r"^(?P<flag>[a-z0-9]+?)(?:_(?P<size>\d+))?$")


@cache
def _benchmarks() -> dict[str, Any]:
    return dict(tomllib.loads(BASELINES.read_text(encoding="utf-8"))["datasets"])


def benchmark_ids() -> tuple[str, ...]:
    """The benchmark names a dataset may declare (``benchmark = "…"``)."""
    return tuple(_benchmarks())


def parse_benchmark(value: str) -> tuple[str, int] | None:
    """``"pneumoniamnist"`` → (pneumoniamnist, 28); ``"pneumoniamnist_64"`` → (…, 64); unknown → None.

    The ``_<size>`` suffix follows the medmnist package's file names (``pneumoniamnist_64.npz``); a MedMNIST
    flag without one is the original 28 px release. Other benchmarks (kermany2018) have no fixed size (0).
    """
    m = _SIZED.match(value.strip().lower())
    if not m or m["flag"] not in _benchmarks():
        return None
    if m["size"]:
        return m["flag"], int(m["size"])
    return m["flag"], 28 if m["flag"].endswith("mnist") else 0
