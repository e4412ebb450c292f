"""Render a results store into a bilingual (zh-TW / en) lab report: HTML, and PDF through WeasyPrint.

Data flow: ``load_run`` → :mod:`analysis` (comparisons.json, findings.json) → :mod:`context`
(typed view models, every number formatted) → Jinja templates → HTML → PDF. Nothing here imports torch.
"""

from __future__ import annotations

from .render import render_report

__all__ = ["render_report"]
