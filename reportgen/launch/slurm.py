"""The Slurm launcher: the matrix as one job array through submitit, one cell per array task.

Each task is a :class:`CellTask` (``submitit.helpers.Checkpointable``): when Slurm preempts it or its
time runs out, submitit requeues the same call, and the cell resumes from the checkpoint of its last
finished epoch. The shared results store is the source of truth: tasks take per-cell locks, so a
requeued or duplicated task never trains a cell twice at once, and waiting means polling the store
and ``squeue`` (a one-node cluster has no accounting database, so ``sacct`` may know nothing).
submitit pickles the call into ``<run>/.submitit/``, which must be on a filesystem the nodes share;
the workers must import the same ``reportgen`` (installed, or a checkout on their PYTHONPATH).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import store
from ..config import Experiment, SlurmConfig
from ..errors import LaunchError
from ..store import status
from .worker import run_one

log = logging.getLogger(__name__)
Event = Callable[[str, dict[str, Any]], None]

try:  # a base class must exist at import time; the launcher itself checks for submitit
    from submitit.helpers import Checkpointable as _Checkpointable
except ImportError:  # pragma: no cover - submitit is a dependency
    _Checkpointable = object  # type: ignore[assignment,misc]


class CellTask(_Checkpointable):  # type: ignore[misc,valid-type]
    """One array task: train one cell (resuming it if a previous attempt was stopped)."""

    def __call__(self, exp: Experiment, cell_id: str, device: str, threads: int | None) -> dict[str, Any]:
        return run_one(exp, cell_id, device=device, threads=threads)


def _executor(exp: Experiment, settings: SlurmConfig, *, n_tasks: int) -> Any:
    try:
        import submitit
    except ImportError:
        raise LaunchError("the Slurm launcher needs submitit", key="--launcher slurm",
                          fix="pip install submitit (it is a reportgen dependency)") from None
    if shutil.which("sbatch") is None:
        raise LaunchError("no Slurm here: `sbatch` is not on PATH", key="--launcher slurm",
                          fix="run on a Slurm login node, start a one-node cluster with `make slurm-up`, "
                              "or use --launcher local")
    executor = submitit.AutoExecutor(folder=exp.run_dir / ".submitit", cluster="slurm")
    params: dict[str, Any] = {"name": f"reportgen-{exp.name}", "timeout_min": settings.time_min,
                              "slurm_array_parallelism": settings.array_parallelism or n_tasks,
                              "nodes": 1, "tasks_per_node": 1}
    if settings.gpus_per_task:
        params["gpus_per_node"] = settings.gpus_per_task
    if settings.partition:
        params["slurm_partition"] = settings.partition
    if settings.cpus_per_task:
        params["cpus_per_task"] = settings.cpus_per_task
    if settings.mem_gb:
        params["mem_gb"] = settings.mem_gb
    if settings.extra:
        params["slurm_additional_parameters"] = dict(settings.extra)
    executor.update_parameters(**params)
    return executor


def submit(exp: Experiment, *, settings: SlurmConfig, device: str = "auto",
           only: list[str] | None = None) -> tuple[list[str], list[Any]]:
    """Preflight + decode here, then one job array for the unfinished cells: (cell ids, submitit jobs)."""
    from ..train.runner import prepare

    _, cells = prepare(exp, only=only)
    todo = [c.id for c in cells if not store.is_finished(exp.run_dir / "cells" / c.id)]
    if not todo:
        return [], []
    executor = _executor(exp, settings, n_tasks=len(todo))
    threads = settings.cpus_per_task
    n = len(todo)
    jobs = executor.map_array(CellTask(), [exp] * n, todo, [device] * n, [threads] * n)
    log.info("submitted job array %s with %d tasks", jobs[0].job_id.split("_")[0], n)
    return todo, jobs


def _queued(array_id: str) -> bool:
    """Whether any task of the array is still known to squeue (pending, running, requeued...)."""
    out = subprocess.run(["squeue", "-h", "-j", array_id, "-o", "%i"], capture_output=True, text=True,
                         check=False, timeout=60)
    if out.returncode != 0:  # squeue forgets finished arrays and then errors on the id
        return False
    return bool(out.stdout.strip())


def wait(exp: Experiment, cell_ids: list[str], array_id: str, *, on_event: Event | None = None,
         poll_s: float = 5.0, timeout_s: float | None = None) -> Any:
    """Poll the store (and squeue) until every cell is done or failed, or the array has left the queue."""
    from ..train.runner import RunSummary

    emit = on_event or (lambda kind, data: None)
    summary = RunSummary(run_dir=exp.run_dir, trained=[], skipped_finished=[])
    left = list(cell_ids)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while left:
        queued = _queued(array_id)
        for cid in list(left):
            st = status.cell_status(exp.run_dir, cid)
            if st.state == "done":
                summary.trained.append(cid)
                emit("cell_done", {"cell_id": cid, "result": store.read_json(exp.run_dir / "cells" / cid
                                                                             / store.RESULT_FILE)})
                left.remove(cid)
            elif (st.state == "failed" or not queued) and st.state != "running":
                error = st.error or "the Slurm task ended without finishing the cell"
                summary.failed[cid] = error
                emit("cell_failed", {"cell_id": cid, "error": error,
                                     "log": str(exp.run_dir / ".submitit")})
                left.remove(cid)
        if not left:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise LaunchError(f"{len(left)} cell(s) still unfinished after {timeout_s:.0f} s", file=exp.run_dir,
                              fix=f"check `squeue -j {array_id}` and `reportgen status {exp.run_dir}`")
        time.sleep(poll_s)
    return summary


def run_slurm(exp: Experiment, *, settings: SlurmConfig, device: str = "auto", only: list[str] | None = None,
              no_wait: bool = False, on_event: Event | None = None, poll_s: float = 5.0) -> tuple[str | None, Any]:
    """Submit the unfinished cells as one job array; unless ``no_wait``, wait for them.

    Returns ``(array job id or None, RunSummary or None)``.
    """
    emit = on_event or (lambda kind, data: None)
    todo, jobs = submit(exp, settings=settings, device=device, only=only)
    if not jobs:
        from ..train.runner import RunSummary

        return None, RunSummary(run_dir=exp.run_dir, trained=[], skipped_finished=[])
    array_id = str(jobs[0].job_id).split("_")[0]
    emit("submitted", {"job_id": array_id, "tasks": len(todo), "folder": str(Path(exp.run_dir) / ".submitit")})
    if no_wait:
        return array_id, None
    return array_id, wait(exp, todo, array_id, on_event=on_event, poll_s=poll_s)
