"""Paste-ready tables: the report's own result tables, picked from the report's view models.

One presentation tree for every format: ``export --tables`` builds the report (:func:`build_context`,
the same sections, formatters, labels and † collapse marks as the HTML/PDF/Word report) and takes its
result tables — every run with CIs, the backbone × strategy pivots, the seed summary and the cost
table — as :class:`~reportgen.report.model.Table` objects. :mod:`formats` writes each as CSV (the text
*and* the exact stored value behind it), Markdown and LaTeX. Nothing here imports Jinja, matplotlib or
torch: the figures stay undrawn jobs.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..describe.persist import ensure_description
from ..report.context import build_context
from ..report.format import dec, dec_ci, params, pct, pct_ci  # noqa: F401  (the report's formatters, for callers)
from ..report.model import Table
from ..store import RunResults, load_run

# Refs (Builder.table) of the report tables a paper reuses: every run, the pivots, seeds, cost.
EXPORTED = ("compare:", "pivot:", "seeds:", "cost")


def stem(table: Table) -> str:
    """The file name of an exported table, from its ref: ``pivot:pneumoniamnist:auc`` → ``pivot-pneumoniamnist-auc``."""
    return re.sub(r"[^a-z0-9]+", "-", table.ref.lower()).strip("-") or f"table-{table.number}"


def report_tables(run: RunResults, lang: str = "en") -> list[Table]:
    """The exported tables exactly as the report of ``lang`` shows them (numbers, labels, captions)."""
    ctx = build_context(run, ensure_description(run), lang)
    return [block for s in ctx.sections for block in s.blocks
            if isinstance(block, Table) and block.ref.startswith(EXPORTED)]


def build_tables(run_dir: Path | RunResults, lang: str = "en") -> list[Table]:
    run = run_dir if isinstance(run_dir, RunResults) else load_run(Path(run_dir))
    return report_tables(run, lang)
