"""The one place the exporters read store records: ``load_run`` output → plain export records.

The store's records are being turned into typed classes; every field access the exporters make
lives in this module, so that change touches this file only.

Wall times: the store keeps each epoch's duration (``epochs.csv`` ``seconds``) and the moment the
cell finished (``result.json`` ``finished_at``, with ``wall_time_s`` since it started), but no
per-epoch timestamps. The cell's start is ``finished_at - wall_time_s`` (exact), and epoch *e* is
placed at ``start + seconds_1 + … + seconds_e``. That ignores the set-up before the first epoch
(model building, feature caching), so an epoch's time is early by at most ``wall_time_s -
train_time_s``; the live exporter (``reportgen run --tensorboard``) records the true times instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..registry import metrics as metric_registry
from ..registry import strategies as strategy_registry
from ..store import CellResult, RunResults, load_cell, load_run

# epochs.csv columns exported per epoch (the store's names; docs/results-store.md)
EPOCH_METRICS = ("train_loss", "train_acc", "train_macro_f1", "val_loss", "val_acc", "val_macro_f1", "val_auc",
                 "lr")
# test metrics exported per cell (metrics.json "test"), in report order
TEST_METRICS = metric_registry.TABLE

HParam = str | int | float | bool


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    stage: str
    values: dict[str, float]   # EPOCH_METRICS that are defined this epoch (val_auc may be undefined)
    seconds: float
    end_time: float            # unix seconds, derived as described in the module docstring


@dataclass(frozen=True)
class CellRecord:
    id: str
    path: Path
    dataset: str
    backbone: str
    strategy: str
    seed: int
    hparams: dict[str, HParam]                 # the resolved cell config, flattened (dotted keys)
    epochs: list[EpochRecord]
    test: dict[str, float | None]              # TEST_METRICS from metrics.json "test"
    test_ci: dict[str, tuple[float, float] | None]
    started_at: float                          # unix seconds
    finished_at: float
    best_epoch: int | None
    epochs_run: int
    train_time_s: float | None
    wall_time_s: float | None
    peak_mem_mb: float | None
    params_total: float | None
    params_trainable: float | None
    macs: float | None

    def files(self) -> list[Path]:
        """The cell's files (what MLflow gets as artifacts), temp files of atomic writes excluded."""
        return sorted(p for p in self.path.iterdir() if p.is_file() and not p.name.startswith("."))


@dataclass(frozen=True)
class RunRecord:
    name: str
    path: Path
    cells: list[CellRecord]
    missing: list[str] = field(default_factory=list)

    def ordered(self, attr: str) -> list[Any]:
        """Distinct values of a cell attribute in the order the experiment declared them."""
        seen = list(dict.fromkeys(getattr(c, attr) for c in self.cells))
        if attr == "strategy":
            return strategy_registry.ordered(seen)
        if attr == "seed":
            return sorted(seen)
        return seen


def read_run(run_dir: Path) -> RunRecord:
    """Every finished cell of a run as export records.

    Raises:
        StoreError: no results store at ``run_dir``, or no finished cell in it.
    """
    run = load_run(Path(run_dir))
    if not run.cells:
        raise StoreError("no finished cell to export (no cells/*/result.json yet)", file=run.path,
                         fix="run `reportgen run EXPERIMENT.toml` until at least one cell finishes")
    return from_results(run)


def from_results(run: RunResults) -> RunRecord:
    return RunRecord(name=run.run.name or run.path.name, path=run.path, cells=[cell_record(c) for c in run.cells],
                     missing=list(run.missing))


def read_cell(cell_dir: Path) -> CellRecord:
    """One finished cell folder as an export record."""
    return cell_record(load_cell(Path(cell_dir)))


def epoch_values(row: dict[str, Any]) -> dict[str, float]:
    """An epochs.csv row (or the training loop's row for it) → the EPOCH_METRICS defined in it."""
    return {k: float(row[k]) for k in EPOCH_METRICS if row.get(k) not in (None, "")}


def cell_record(c: CellResult) -> CellRecord:
    res, arch, test = c.result, c.arch, c.metrics.test
    finished = _unix(res.finished_at)
    started = finished - res.wall_time_s
    epochs, t = [], started
    for row in c.epochs:
        t += row.seconds
        epochs.append(EpochRecord(epoch=row.epoch, stage=row.stage, values=epoch_values(row.model_dump()),
                                  seconds=row.seconds, end_time=t))
    return CellRecord(
        id=c.id, path=c.path, dataset=c.cell.dataset, backbone=c.cell.backbone, strategy=c.cell.strategy,
        seed=c.cell.seed, hparams=hparams(c.cell.model_dump(mode="json")), epochs=epochs,
        test={k: _num(getattr(test, k)) for k in TEST_METRICS},
        test_ci={k: _ci(test.ci.get(k)) for k in TEST_METRICS},
        started_at=started, finished_at=finished, best_epoch=res.best_epoch, epochs_run=res.epochs_run,
        train_time_s=res.train_time_s, wall_time_s=res.wall_time_s, peak_mem_mb=res.peak_mem_mb,
        params_total=float(arch.params_total), params_trainable=float(arch.params_trainable),
        macs=_num(arch.macs))


# The config keys that identify a cell or are bookkeeping, not hyperparameters a reader compares.
_NOT_HPARAMS = {"id", "classes", "strategy_semantics", "backbone_label", "task"}


def hparams(cell: dict) -> dict[str, HParam]:
    """The resolved cell config flattened to ``{"train.lr": 0.001, ...}`` with scalar values only
    (None → "none", lists → comma-joined text): what TensorBoard's HParams and MLflow params accept."""
    out: dict[str, HParam] = {}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), x)
        elif v is None:
            out[prefix] = "none"
        elif isinstance(v, (bool, int, float, str)):
            out[prefix] = v
        elif isinstance(v, (list, tuple)):
            out[prefix] = ", ".join(str(x) for x in v)
        else:
            out[prefix] = str(v)

    walk("", {k: v for k, v in cell.items() if k not in _NOT_HPARAMS})
    return out


def _unix(text: str) -> float:
    when = dt.datetime.fromisoformat(str(text))
    if when.tzinfo is None:  # the runner writes UTC; an older store may lack the offset
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _ci(v: Any) -> tuple[float, float] | None:
    if not v or v[0] is None or v[1] is None:
        return None
    return float(v[0]), float(v[1])
