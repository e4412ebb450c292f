"""The run-level records written before any cell trains: run.json, the experiment TOML as given, the backbone
candidates, and each dataset's facts (with cross-split duplicates) and sample grid. Written under the store
lock by :func:`reportgen.train.runner.prepare`."""

from __future__ import annotations

import datetime as dt

import numpy as np

from .. import store
from ..config import Experiment
from ..data import Dataset, samples
from ..data.dedup import find_cross_split_duplicates
from ..models.candidates import candidates_record
from ..store.schema import SCHEMA, CandidatesRecord, DatasetFacts, RunRecord, SkippedCell
from .preflight import Preflight


def write_run_files(exp: Experiment, plan: Preflight) -> None:
    run_dir = exp.run_dir
    planned = [c.id for c in plan.cells]
    # A cell finished by an earlier run (another config, another --only) stays in the record:
    # dropping it from run.json would hide results that are still on disk.
    finished = sorted(p.parent.name for p in (run_dir / "cells").glob(f"*/{store.RESULT_FILE}"))
    store.write_record(run_dir / "run.json", RunRecord(
        schema_version=SCHEMA, name=exp.name, created_at=dt.datetime.now(dt.timezone.utc).isoformat(),
        source=str(exp.source), experiment=exp.to_dict(), cells=planned + [c for c in finished if c not in planned],
        skipped=[SkippedCell(**s.__dict__) for s in plan.skipped]))
    store.atomic_write_text(run_dir / "experiment.toml", exp.raw_text)
    store.write_record(run_dir / CandidatesRecord.FILE, candidates_record(exp))
    for name, ds in plan.datasets.items():
        store.write_record(run_dir / "datasets" / f"{name}.json",
                           DatasetFacts(**ds.facts(), duplicates=_duplicates(ds)))
        samples.write_dataset_samples(run_dir, name, ds)  # the report's sample-image grid


def _duplicates(ds: Dataset) -> dict:
    """Exact and near-duplicate images across splits (on the smallest decoded size: pHash resizes anyway)."""
    size = min(ds.decoded_sizes, default=64)
    decoded = ds.decoded(size)
    return find_cross_split_duplicates({s: np.asarray(d.images)[:, 0] for s, d in decoded.items()})
