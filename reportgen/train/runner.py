"""The cell runner: experiment → results store, resumable.

Order of work: validate everything (config, backbones, weights, data) → decode every dataset at
every input size it is needed at (a corrupt image surfaces here, before any training) → write
run.json → train each unfinished cell and write its folder, ``result.json`` last. A finished cell
is never retrained; an unfinished one (killed mid-way) resumes from the checkpoint of its last
finished epoch (``checkpoint.py``). Each cell is trained under its own lock (``locks.py``), so any
number of processes — inline, the local scheduler's workers, Slurm array tasks — can fill one store.

This module orders the work; the device and environment are :mod:`.environment`, the run-level records
:mod:`.runfiles`, one cell's training and records :mod:`.cell`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import store
from ..config import Experiment
from ..config.matrix import Cell
from ..store import safepath, status
from ..store.locks import store_lock, try_lock
from .cell import run_cell
from .device import set_cublas_workspace
from .environment import environment, pick_device
from .preflight import Preflight, preflight
from .runfiles import write_run_files

log = logging.getLogger(__name__)
Event = Callable[[str, dict[str, Any]], None]


@dataclass
class RunSummary:
    run_dir: Path
    trained: list[str]
    skipped_finished: list[str]
    skipped_locked: list[str] = field(default_factory=list)  # trained by another process right now
    failed: dict[str, str] = field(default_factory=dict)  # cell id -> error message


def prepare(exp: Experiment, *, only: list[str] | None = None, progress: bool = False) -> tuple[Preflight, list[Cell]]:
    """Everything before compute, once: preflight, decode every dataset at every size, run.json."""
    # Everything that can fail before training is checked before anything of the store changes:
    # a failed run must leave an existing store byte for byte as it was.
    plan = preflight(exp)
    cells = [c for c in plan.cells if not only or any(s in c.id for s in only)]
    safepath.check_writable_dir(exp.run_dir, what="results folder", file=exp.source, key="experiment.output_dir")
    safepath.check_store(exp.run_dir)
    store.clean_stale_temp_files(exp.run_dir)  # temp files of a process killed mid-write last time
    # Decode every (dataset, input size) first: bad images fail here, not after hours of training.
    for cell in cells:
        plan.datasets[cell.dataset.name].decoded(cell.backbone.input_size, augment=cell.train.augment,
                                                 progress=progress)
    with store_lock(exp.run_dir):
        write_run_files(exp, plan)
    return plan, cells


def attempt_cell(plan: Preflight, cell: Cell, *, run_dir: Path, device: torch.device, env: dict,
                 progress: bool = False, save_checkpoint: bool = True,
                 on_epoch: Callable[[dict[str, Any]], None] | None = None) -> tuple[str, dict | None]:
    """Train one cell if nobody else is: ``("finished" | "locked" | "trained", result)``.

    A failure is recorded in the cell's ``failed.json`` (for ``reportgen status``) and re-raised.
    """
    cdir = run_dir / "cells" / cell.id
    if store.is_finished(cdir):
        return "finished", None
    lock = try_lock(run_dir, cell.id)
    if lock is None:
        return "locked", None
    with lock:
        if store.is_finished(cdir):  # finished between our check and the lock
            return "finished", None
        status.clear_failure(cdir)
        try:
            result = run_cell(cell, plan.datasets[cell.dataset.name], plan.choice_for(cell), cdir=cdir,
                              device=device, env=env, progress=progress, save_checkpoint=save_checkpoint,
                              on_epoch=on_epoch)
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                status.record_failure(cdir, exc)
            raise
    return "trained", result


def run_experiment(exp: Experiment, *, device: str | None = None, progress: bool = False,
                   on_event: Event | None = None, only: list[str] | None = None,
                   save_checkpoints: bool = True,
                   on_epoch: Callable[[str, dict[str, Any]], None] | None = None) -> RunSummary:
    """Train every unfinished cell of ``exp`` into ``exp.run_dir``, one after another in this process;
    ``on_epoch(cell_id, row)`` after each epoch (live exporters)."""
    emit = on_event or (lambda kind, data: None)
    set_cublas_workspace(any_deterministic(exp))  # before pick_device: nothing has touched CUDA yet
    dev = pick_device(device)  # before anything of the store changes
    plan, cells = prepare(exp, only=only, progress=progress)
    env = environment(dev)
    summary = RunSummary(run_dir=exp.run_dir, trained=[], skipped_finished=[])
    for i, cell in enumerate(cells, start=1):
        info = {"index": i, "total": len(cells), "cell_id": cell.id}
        if store.is_finished(exp.run_dir / "cells" / cell.id):
            summary.skipped_finished.append(cell.id)
            emit("cell_skipped", info)
            continue
        emit("cell_start", info)
        outcome, result = attempt_cell(plan, cell, run_dir=exp.run_dir, device=dev, env=env, progress=progress,
                                       save_checkpoint=save_checkpoints,
                                       on_epoch=(lambda row, cid=cell.id: on_epoch(cid, row)) if on_epoch else None)
        if outcome == "trained":
            summary.trained.append(cell.id)
            emit("cell_done", {**info, "result": result})
        elif outcome == "locked":
            summary.skipped_locked.append(cell.id)
            emit("cell_locked", info)
        else:
            summary.skipped_finished.append(cell.id)
            emit("cell_skipped", info)
    return summary


def any_deterministic(exp: Experiment) -> bool:
    """Whether any cell of ``exp`` asks for ``deterministic = true`` (a pure-Python look at the matrix)."""
    from ..config.matrix import build_cells

    try:
        cells, _ = build_cells(exp)
    except Exception:  # noqa: BLE001 - preflight reports a bad matrix with its reason; here: be safe
        return True
    return any(c.train.deterministic for c in cells)
