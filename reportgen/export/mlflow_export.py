"""MLflow export: one MLflow run per cell, in an experiment named after the reportgen run.

Logged after the fact with ``MlflowClient``: the run's start and end are the cell's own, metrics
carry step = epoch and the epoch's wall time (derived as described in :mod:`records`), and the
cell's store files become the run's artifacts. Runs are matched on the ``reportgen.cell_id`` tag,
so exporting again updates a cell's run (identical metric points are de-duplicated by MLflow,
artifacts overwritten) instead of adding a second one. Never imports torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import ReportgenError
from .extras import require
from .records import CellRecord, RunRecord

log = logging.getLogger(__name__)

CELL_TAG = "reportgen.cell_id"
BATCH = 1000  # MLflow's log_batch limit: at most 1000 metrics (100 params, 100 tags) per call


class MlflowExportError(ReportgenError):
    """The MLflow tracking server or database cannot be used."""


@dataclass(frozen=True)
class Exported:
    cell_id: str
    run_id: str
    created: bool  # False: an existing run (same cell id tag) was updated


def default_uri(run_dir: Path) -> str:
    """``sqlite:///<run>/mlflow.db``: MLflow 3's default backend, kept next to the results it holds."""
    return f"sqlite:///{(Path(run_dir) / 'mlflow.db').resolve()}"


def _artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite-backed experiment go next to the database (MLflow's own default is
    ``./mlruns`` in whatever folder the command ran from); a server decides for itself."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    db = Path(uri.removeprefix("sqlite:///"))
    return (db.parent / "mlartifacts").resolve().as_uri()


def _ms(unix_seconds: float) -> int:
    return round(unix_seconds * 1000)


def _metrics(cell: CellRecord) -> list[Any]:
    from mlflow.entities import Metric

    out = [Metric(key, value, _ms(e.end_time), e.epoch) for e in cell.epochs for key, value in e.values.items()]
    out += [Metric(f"test_{m}", v, _ms(cell.finished_at), cell.epochs_run) for m, v in cell.test.items()
            if v is not None]
    return out


def _tags(run: RunRecord, cell: CellRecord) -> dict[str, str]:
    return {CELL_TAG: cell.id, "reportgen.run": run.name, "reportgen.store": str(cell.path.resolve()),
            "dataset": cell.dataset, "backbone": cell.backbone, "strategy": cell.strategy, "seed": str(cell.seed)}


def _experiment_id(client: Any, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name, artifact_location=_artifact_location(uri))
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def _find_run(client: Any, exp_id: str, cell_id: str) -> Any | None:
    found = client.search_runs([exp_id], filter_string=f"tags.`{CELL_TAG}` = '{cell_id}'",
                               order_by=["attributes.start_time ASC"])
    if len(found) > 1:
        log.warning("mlflow: %d runs carry %s=%s; updating the oldest", len(found), CELL_TAG, cell_id)
    return found[0] if found else None


def export_cell(client: Any, exp_id: str, run: RunRecord, cell: CellRecord) -> Exported:
    from mlflow.entities import Param, RunTag

    existing = _find_run(client, exp_id, cell.id)
    tags = _tags(run, cell)
    if existing is None:
        mrun = client.create_run(exp_id, start_time=_ms(cell.started_at), tags=tags, run_name=cell.id)
        run_id, have = mrun.info.run_id, {}
    else:
        run_id, have = existing.info.run_id, dict(existing.data.params)
        client.update_run(run_id, status="RUNNING")  # logging needs an active run; set_terminated ends it
    # A param cannot change value in MLflow; a cell's config cannot either (its id hashes it).
    params = [Param(k, str(v)) for k, v in cell.hparams.items() if k not in have]
    changed = [k for k, v in cell.hparams.items() if k in have and have[k] != str(v)]
    if changed:
        log.warning("mlflow: run %s has different values for %s; kept the logged ones", run_id, ", ".join(changed))
    tag_list = [RunTag(k, v) for k, v in tags.items()]
    metrics = _metrics(cell)
    for i in range(0, max(len(params), len(tag_list)), 100):
        client.log_batch(run_id, params=params[i:i + 100], tags=tag_list[i:i + 100])
    for i in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[i:i + BATCH])
    client.log_artifacts(run_id, str(cell.path))
    client.set_terminated(run_id, "FINISHED", end_time=_ms(cell.finished_at))
    return Exported(cell.id, run_id, created=existing is None)


def export_mlflow(run: RunRecord, uri: str | None = None) -> list[Exported]:
    """Export every finished cell of ``run`` to the MLflow tracking ``uri`` (default: SQLite in the run)."""
    require("mlflow")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = uri or default_uri(run.path)
    client = MlflowClient(tracking_uri=uri)
    try:
        exp_id = _experiment_id(client, run.name, uri)
        return [export_cell(client, exp_id, run, cell) for cell in run.cells]
    except MlflowException as exc:
        raise MlflowExportError(f"MLflow refused the export ({exc.message.splitlines()[0]})", key="--mlflow",
                                expected="a reachable tracking URI: sqlite:///PATH.db or http://HOST:PORT",
                                fix=f"check that {uri} is reachable and writable") from None
