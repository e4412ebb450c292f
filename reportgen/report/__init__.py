"""Render a results store into a bilingual (zh-TW / en) lab report: HTML, and PDF through WeasyPrint.

Data flow: ``load_run`` → the run's description (:func:`reportgen.describe.persist.ensure_description`: comparisons,
seed summaries, findings, claims, as ``run`` stored them under ``analysis/``) → :mod:`context` (typed view
models, every number formatted) → Jinja templates → HTML → PDF. Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["render_report"]


def __getattr__(name: str) -> Any:
    # Lazy: `export --tables` builds the report's tables (context, sections) without importing Jinja,
    # WeasyPrint or matplotlib through render.
    if name == "render_report":
        from .render import render_report

        return render_report
    raise AttributeError(name)
