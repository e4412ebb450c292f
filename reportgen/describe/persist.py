"""Where the description lives: ``<run>/analysis/``, written once, read by ``check``, ``render`` and ``export``.

``run`` writes it when it ends (:func:`describe_after_run`); the readers call :func:`ensure_description`,
which returns the stored description when it is *fresh* and otherwise computes it (:mod:`description`),
writes it and returns the object it computed (never a read-back of what it just wrote). Fresh means:

* ``analysis/description.json`` (the manifest, written last) parses, and its ``version`` and
  ``claims_version`` are this code's (:data:`DESCRIPTION_VERSION`, :data:`CLAIMS_VERSION`);
* its ``inputs`` equals :func:`inputs_hash` of the loaded run — a hash of every record the description is
  computed from (run.json's cells and results-affecting settings, datasets/*.json and each finished cell's
  cell, data, arch, epochs, metrics and result records), so a new or rerun cell, an edited metrics file or a
  changed plan makes it stale whatever the files' times say;
* each part file (comparisons, seeds, findings, claims) has the SHA-256 the manifest lists and parses into
  its type — a hand-edited, truncated or half-written (killed between two writes) part is recomputed.

The predictions are deliberately *not* an input: a claim is written from the stored numbers once and then
verified against the predictions on every check and render (:mod:`gate`), so an edited prediction is
reported, never silently re-described. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ReportgenError, StoreError
from ..store import RunResults, WriteError, atomic_write_text, json_text, load_run, read_json, write_json
from ..store.schema import FindingsRecord
from .description import describe_run
from .model import CellFacts, Claim, Comparison, Description, SeedSummary

log = logging.getLogger(__name__)

ANALYSIS = "analysis"
COMPARISONS = "comparisons.json"
SEEDS = "seeds.json"
FINDINGS = "findings.json"
CLAIMS = "claims.json"
MANIFEST = "description.json"
PARTS = (COMPARISONS, SEEDS, FINDINGS, CLAIMS)

# Bumped when what the description holds or how any part of it is computed changes: an older one is recomputed.
DESCRIPTION_VERSION = 2  # 2: a selection tie where nothing moved is its own finding wording (variant "flat")
# Bumped when what a claim cites or how its outcome is chosen changes: an older claims.json is recomputed
# rather than trusted (its refs could point at tables this version no longer cites for that sentence).
CLAIMS_VERSION = 7  # 3: headline configurations are resolved configurations, not backbone × strategy;
#   4: a validation–test gap is one outside the test score's 95% CI; 5: premise claims ([[report.tasks]]
#   expect), and a budget claim carries its pair's outcome (params["after"]); 6: an AUC judged by its CI
#   ("chance"), ties said (winner, headline), a scores claim cites its AUC CI; 7: findings, captions and the
#   cells' checks are claims too (claims_shown)


def analysis_paths(run_dir: Path) -> dict[str, Path]:
    """``{"comparisons": …/analysis/comparisons.json, …, "description": …/description.json}``."""
    out = Path(run_dir) / ANALYSIS
    return {name.removesuffix(".json"): out / name for name in (*PARTS, MANIFEST)}


def _plain(obj: Any) -> Any:
    return obj if isinstance(obj, dict) else obj.model_dump(mode="json")


def inputs_hash(run: RunResults) -> str:
    """SHA-256 over every record the description reads (not the predictions: see the module's docstring)."""
    h = hashlib.sha256()
    exp = {k: v for k, v in _plain(run.run.experiment).items() if k != "report"}  # report-only keys change no number
    head = {"cells": run.run.cells, "skipped": [s.model_dump(mode="json") for s in run.run.skipped],
            "experiment": exp}
    if premises(run):  # only then: a run without premises keeps the hash it always had
        head["premises"] = premises(run)
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for name, facts in sorted(run.datasets.items()):
        h.update(f"\0dataset {name}\0".encode() + facts.model_dump_json().encode())
    for c in run.cells:
        h.update(f"\0cell {c.id}\0".encode())
        for record in (c.cell, c.data, c.arch, c.metrics, c.result, *c.epochs):
            h.update(record.model_dump_json().encode())
    return h.hexdigest()


def premises(run: RunResults) -> list[list[str]]:
    """The tasks' premises ([[report.tasks]] expect): report-only, yet claims are made of them, so a premise
    edited in the TOML given to ``render`` makes the stored claims stale (an old store's tasks have none)."""
    report = _plain(run.run.experiment).get("report") or {}
    return [[str(t.get("id")), *map(str, t.get("expect") or [])] for t in report.get("tasks") or []
            if t.get("expect")]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_description(run_dir: Path, d: Description) -> dict[str, Path]:
    """Write the four parts, then the manifest naming their hashes (so a kill in between leaves it stale).
    Each hash is of the text this call writes (not read back: another writer's part never gets this manifest)."""
    paths = analysis_paths(run_dir)
    parts = {
        COMPARISONS: {"source": "reportgen.describe.compare.compare_cells", "split": "test",
                      "rows": [row.to_json() for row in d.comparisons]},
        SEEDS: {"source": "reportgen.describe.seeds.seed_summaries",
                "rows": [row.model_dump(mode="json") for row in d.seeds]},
        FINDINGS: FindingsRecord(source="reportgen.describe.checks.run_checks",
                                 findings=list(d.findings)).model_dump(mode="json"),
        CLAIMS: {"source": "reportgen.describe.claims.describe", "version": CLAIMS_VERSION,
                 "claims": [c.to_json() for c in d.claims]},
    }
    hashes = {}
    for name, obj in parts.items():
        text = json_text(obj)
        atomic_write_text(paths[name.removesuffix(".json")], text)
        hashes[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    write_json(paths["description"], {
        "source": "reportgen.describe.description.describe_run", "version": DESCRIPTION_VERSION,
        "claims_version": CLAIMS_VERSION, "inputs": d.inputs, "files": hashes,
        "cells": [vars(f) for f in d.cells.values()]})
    return paths


def read_description(run_dir: Path, inputs: str) -> Description | None:
    """The stored description if it is fresh for ``inputs``, else None (missing, stale, damaged, other version)."""
    paths = analysis_paths(run_dir)
    try:
        manifest = read_json(paths["description"])
        if (manifest["version"], manifest["claims_version"], manifest["inputs"]) != (
                DESCRIPTION_VERSION, CLAIMS_VERSION, inputs):
            return None
        files = manifest["files"]
        if any(files[name] != _sha(paths[name.removesuffix(".json")]) for name in PARTS):
            return None
        claims = read_json(paths["claims"])
        if claims["version"] != CLAIMS_VERSION:
            return None
        return Description(
            inputs=inputs,
            comparisons=tuple(Comparison.model_validate(r) for r in read_json(paths["comparisons"])["rows"]),
            seeds=tuple(SeedSummary.model_validate(r) for r in read_json(paths["seeds"])["rows"]),
            findings=tuple(FindingsRecord.model_validate(read_json(paths["findings"])).findings),
            claims=tuple(Claim.from_json(c) for c in claims["claims"]),
            cells={f["id"]: CellFacts(**{**f, "macro_f1_ci": tuple(f["macro_f1_ci"])}) for f in manifest["cells"]})
    except (StoreError, OSError, KeyError, TypeError, AttributeError, ValueError, ValidationError):
        return None  # derived data: whatever is wrong with it, it is recomputed, never half-trusted


def ensure_description(run: RunResults, *, force: bool = False) -> Description:
    """The run's description: the stored one when fresh, else computed now and written to ``analysis/``."""
    inputs = inputs_hash(run)
    if not force:
        stored = read_description(run.path, inputs)
        if stored is not None:
            return stored
    d = describe_run(run, inputs=inputs)
    write_description(run.path, d)
    return d


def describe_after_run(run_dir: Path) -> None:
    """What ``run`` does last: describe the finished cells, so render only reads. A write that fails (disk full)
    is the run's error like any other write's; anything else only warns — a description that cannot be
    computed now is computed by the next check or render, which then say why."""
    try:
        run = load_run(run_dir)
        if run.cells:
            ensure_description(run)
    except WriteError:
        raise  # a full or failing disk is said like every other write of the run: exit 2, naming the file
    except (ReportgenError, OSError, ValueError) as exc:
        log.warning("the run's description was not written (%s); render computes it", exc)
