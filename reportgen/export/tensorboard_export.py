"""TensorBoard export: one run (log directory ``DIR/<cell id>``) per cell.

Each run holds the per-epoch scalars at their wall times (see :mod:`records` for how those are
derived from the store), the test metrics, and an HParams record (the cell's resolved config
against its test metrics), so TensorBoard's HParams tab compares strategies side by side.
Written with ``torch.utils.tensorboard.SummaryWriter``; no TensorFlow needed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from .extras import require
from .records import TEST_METRICS, CellRecord, HParam, RunRecord, epoch_values, read_cell

log = logging.getLogger(__name__)

# epochs.csv column → scalar tag; "<metric>/<split>" puts train and val of a metric in one section.
SCALAR_TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "train_acc": "accuracy/train",
               "val_acc": "accuracy/val", "train_macro_f1": "macro_f1/train", "val_macro_f1": "macro_f1/val",
               "val_auc": "auc/val", "lr": "lr"}
TEST_TAGS = {m: f"test/{m}" for m in TEST_METRICS}
# The HParams plugin logs its metrics as scalars too: their keys must not collide with the tags above.
HPARAM_METRICS = {m: f"hparam/test_{m}" for m in TEST_METRICS}


def _summary_writer() -> Any:
    require("tensorboard")  # torch's writer needs the tensorboard package for its protobufs
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter


def _clear(logdir: Path) -> None:
    """Remove a cell's previous event files, so a re-export replaces its run instead of doubling it."""
    for old in logdir.glob("events.out.tfevents.*"):
        old.unlink()


def write_epoch(writer: Any, values: dict[str, float], *, epoch: int, walltime: float) -> None:
    for key, value in values.items():
        writer.add_scalar(SCALAR_TAGS[key], value, global_step=epoch, walltime=walltime)


def write_summary(writer: Any, cell: CellRecord, *, domains: dict[str, list[Any]] | None = None) -> None:
    """Test metrics (at the last epoch, when the cell finished) and the HParams record of one cell."""
    for m, value in cell.test.items():
        if value is not None:
            writer.add_scalar(TEST_TAGS[m], value, global_step=cell.epochs_run, walltime=cell.finished_at)
    metrics = {HPARAM_METRICS[m]: v for m, v in cell.test.items() if v is not None}
    # run_name="." writes into the cell's own log directory: without it torch adds a timestamped
    # subfolder that TensorBoard shows as a separate run (pytorch#32651).
    writer.add_hparams(cell.hparams, metrics, hparam_domain_discrete=domains or None, run_name=".",
                       global_step=cell.epochs_run)


def discrete_domains(cells: list[CellRecord]) -> dict[str, list[HParam]]:
    """Text hyperparameters (strategy, backbone, …) with every value they take across the run, so the
    HParams tab offers them as filters."""
    keys = {k for c in cells for k, v in c.hparams.items() if isinstance(v, str)}
    out = {}
    for k in sorted(keys):
        values = [c.hparams.get(k) for c in cells]
        if all(isinstance(v, str) for v in values):
            out[k] = sorted(set(values))  # type: ignore[type-var]
    return out


def export_tensorboard(run: RunRecord, out_dir: Path) -> list[Path]:
    """Write one TensorBoard run per finished cell into ``out_dir``; return the run directories."""
    writer_cls = _summary_writer()
    domains = discrete_domains(run.cells)
    dirs = []
    for cell in run.cells:
        logdir = Path(out_dir) / cell.id
        _clear(logdir)
        with writer_cls(log_dir=str(logdir)) as writer:
            for e in cell.epochs:
                write_epoch(writer, e.values, epoch=e.epoch, walltime=e.end_time)
            write_summary(writer, cell, domains=domains)
        dirs.append(logdir)
        log.info("tensorboard: %s (%d epochs)", logdir, len(cell.epochs))
    return dirs


class LiveTensorBoard:
    """Scalars written as epochs finish during ``reportgen run``, at their true wall times.

    ``epoch(cell_id, row)`` is the runner's per-epoch callback; ``cell_done(cell_dir)`` adds the
    test metrics and HParams from the finished cell's store folder and closes its writer.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self._writer_cls = _summary_writer()
        self._writers: dict[str, Any] = {}

    def _writer(self, cell_id: str) -> Any:
        if cell_id not in self._writers:
            logdir = self.out_dir / cell_id
            _clear(logdir)  # a cell restarted after an interruption starts its curves afresh
            self._writers[cell_id] = self._writer_cls(log_dir=str(logdir))
        return self._writers[cell_id]

    def epoch(self, cell_id: str, row: dict[str, Any]) -> None:
        writer = self._writer(cell_id)
        write_epoch(writer, epoch_values(row), epoch=int(row["epoch"]), walltime=time.time())
        writer.flush()  # so a user watching TensorBoard sees the epoch now, not at the end of the cell

    def cell_done(self, cell_dir: Path) -> None:
        cell = read_cell(cell_dir)
        writer = self._writer(cell.id)
        write_summary(writer, cell)
        writer.close()
        del self._writers[cell.id]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
