"""Shipped, cited reference data: published baselines (``baselines.toml``, read by :mod:`.baselines`) and the
reporting checklists (``checklists.toml``). Imports nothing from the rest of reportgen, so the config parser
can validate ``[report.checklist]`` keys without an import cycle; no torch."""

from __future__ import annotations

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
