"""Compute ``<run>/analysis/comparisons.json`` and ``findings.json`` from the store.

The report quotes paired comparisons and validity findings; writing them to files first means
every number in the report can be traced to a file a grader can open. They are recomputed when
missing or older than any finished cell, so rendering twice does not redo the bootstrap.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..describe.claims import Claim, describe
from ..errors import StoreError
from ..registry import metrics as metric_registry
from ..store import RESULT_FILE, RunResults, read_json, read_record, write_json, write_record
from ..store.schema import FindingsRecord

log = logging.getLogger(__name__)

COMPARISONS = "comparisons.json"
FINDINGS = "findings.json"


def _newest_result(run: RunResults) -> float:
    return max((c.path.joinpath(RESULT_FILE).stat().st_mtime for c in run.cells), default=0.0)


def _fresh(path: Path, run: RunResults) -> bool:
    return path.is_file() and path.stat().st_mtime >= max(_newest_result(run), (run.path / "run.json").stat().st_mtime)


def compute_comparisons(run: RunResults) -> dict[str, Any]:
    """Paired comparisons between cells, as reportgen.describe.compare produces them (best cell chosen on validation)."""
    from ..describe.compare import compare_cells
    from ..describe.facts import StoredFacts, comparison_inputs

    cells = comparison_inputs(run, StoredFacts(run, []))
    rows = compare_cells(cells) if len(cells) > 1 else []
    return {"source": "reportgen.describe.compare.compare_cells", "split": "test", "rows": rows}


SEEDS = "seeds.json"
SEED_METRICS = metric_registry.HEADLINE


def compute_seed_summary(run: RunResults) -> dict[str, Any]:
    """Mean ± sd over seeds of the headline test metrics, per dataset × backbone × strategy."""
    from ..describe.metrics import mean_sd

    groups: dict[tuple[str, str, str], list] = {}
    for c in run.cells:
        groups.setdefault((c.cell.dataset, c.cell.backbone, c.cell.strategy), []).append(c)
    rows = []
    for (ds, bb, s), cells in groups.items():
        rows.append({"dataset": ds, "backbone": bb, "strategy": s, "seeds": [c.cell.seed for c in cells],
                     **{m: mean_sd([getattr(c.test, m) for c in cells]) for m in SEED_METRICS}})
    return {"source": "reportgen.describe.metrics.mean_sd over cells/*/metrics.json (test)", "rows": rows}


def compute_findings(run: RunResults) -> FindingsRecord:
    """Validity findings (reportgen.describe.checks.run_checks), most severe first."""
    from ..describe.checks import run_checks

    return FindingsRecord(source="reportgen.describe.checks.run_checks", findings=run_checks(run))


CLAIMS = "claims.json"
# Bumped when what a claim cites or how its outcome is chosen changes: an older claims.json is recomputed
# rather than trusted (its refs could point at tables this version no longer cites for that sentence).
CLAIMS_VERSION = 2


def _version(path: Path) -> Any:
    try:
        return read_json(path).get("version")
    except (StoreError, AttributeError):
        return None  # unreadable: recomputed like any stale file


def compute_claims(run: RunResults, comparisons: list[dict]) -> dict[str, Any]:
    """The description step: every sentence's claim, from the stored numbers (reportgen.describe.claims).
    Written once with the other analysis files, so render and check verify the claims the report was
    described with, against the predictions as they are now."""
    claims = [c.to_json() for c in describe(run, comparisons)]
    return {"source": "reportgen.describe.claims.describe", "version": CLAIMS_VERSION, "claims": claims}


def ensure_analysis(run: RunResults, *, force: bool = False) -> dict[str, Any]:
    """Return ``{"comparisons": [...], "findings": [...]}``, (re)writing the analysis files if stale."""
    out_dir = run.path / "analysis"
    comp_path, find_path = out_dir / COMPARISONS, out_dir / FINDINGS
    if force or not _fresh(comp_path, run):
        write_json(comp_path, compute_comparisons(run))
    if force or not _fresh(find_path, run):
        write_record(find_path, compute_findings(run))
    seeds_path = out_dir / SEEDS
    if force or not _fresh(seeds_path, run):
        write_json(seeds_path, compute_seed_summary(run))
    claims_path = out_dir / CLAIMS
    if (force or not _fresh(claims_path, run) or claims_path.stat().st_mtime < comp_path.stat().st_mtime
            or _version(claims_path) != CLAIMS_VERSION):
        write_json(claims_path, compute_claims(run, read_json(comp_path)["rows"]))
    try:
        comparisons, seeds = read_json(comp_path)["rows"], read_json(seeds_path)["rows"]
        findings = read_record(FindingsRecord, find_path).findings
        claims = [Claim.from_json(d) for d in read_json(claims_path)["claims"]]
    except (StoreError, KeyError, TypeError, AttributeError):
        if force:
            raise
        # Analysis files are derived data: a damaged one (hand-edited, older version) is recomputed.
        return ensure_analysis(run, force=True)
    return {"comparisons": comparisons, "findings": findings, "seeds": seeds, "claims": claims,
            "paths": {"comparisons": comp_path, "findings": find_path, "seeds": seeds_path, "claims": claims_path}}
