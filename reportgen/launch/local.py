"""The local scheduler: a queue of cells, each trained in its own process, one per slot.

Slots are the GPUs of this machine (one cell per GPU, pinned with ``CUDA_VISIBLE_DEVICES``), or
``jobs`` CPU slots that share the cores (torch threads divided between them). Preflight and dataset
decoding run once, here in the parent, before any worker starts: a corrupt image or a bad key fails
before compute, and workers read the decoded arrays from the shared tensor cache. A worker's output
goes to ``<run>/.launch/logs/<cell>.log``; a cell that fails records ``failed.json`` and the others
go on. Separate processes (not threads or fork) because each cell then owns its CUDA context and
memory, and a crash in one cell cannot take the queue down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import store
from ..config import Experiment
from ..errors import LaunchError
from ..store import status
from . import signals
from .worker import EXIT_LOCKED

log = logging.getLogger(__name__)
Event = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Slot:
    name: str  # "gpu0", "cpu1"
    device: str  # what the worker passes to pick_device
    threads: int
    env: dict[str, str]


def plan_slots(*, device: str, jobs: int) -> list[Slot]:
    """One slot per visible GPU when training on GPU, else ``jobs`` CPU slots sharing the cores."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n_gpu = torch.cuda.device_count() if device != "cpu" else 0
    if device.startswith("cuda:"):
        # One named GPU: every cell runs there, one at a time. Its index is this process's numbering, so
        # the worker sees it as "cuda" under CUDA_VISIBLE_DEVICES set to what that index means here.
        from ..train.environment import pick_device

        index = pick_device(device).index or 0  # an unknown or absent GPU is a ConfigError here
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [v.strip() for v in visible.split(",")] if visible else [str(i) for i in range(n_gpu)]
        return [Slot(f"gpu{ids[index]}", "cuda", cores, {"CUDA_VISIBLE_DEVICES": ids[index]})]
    if n_gpu and device in ("auto", "cuda"):
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [v.strip() for v in visible.split(",")] if visible else [str(i) for i in range(n_gpu)]
        threads = max(1, cores // len(ids))
        return [Slot(f"gpu{g}", "cuda", threads, {"CUDA_VISIBLE_DEVICES": g}) for g in ids[:n_gpu]]
    jobs = max(1, jobs)
    threads = max(1, cores // jobs)
    return [Slot(f"cpu{i}", "cpu", threads, {}) for i in range(jobs)]


def write_experiment_pickle(exp: Experiment) -> Path:
    """The validated experiment for the workers (so an edited TOML cannot change a running matrix)."""
    path = exp.run_dir / ".launch" / "experiment.pkl"
    store.atomic_write_bytes(path, pickle.dumps(exp))
    return path


def _worker_env(slot: Slot) -> dict[str, str]:
    import reportgen

    env = dict(os.environ)
    # The worker must import the same reportgen as this process (a checkout, or the installed one).
    pkg_root = str(Path(reportgen.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(slot.threads)
    env.update(slot.env)
    env["REPORTGEN_PARENT_PID"] = str(os.getpid())  # the worker dies with us (signals.die_with_parent)
    return env


def run_local(exp: Experiment, *, jobs: int = 1, device: str = "auto", on_event: Event | None = None,
              only: list[str] | None = None, save_checkpoints: bool = True, poll_s: float = 0.2) -> Any:
    """Train every unfinished cell of ``exp``, as many at a time as there are slots."""
    from ..train.runner import RunSummary, prepare

    emit = on_event or (lambda kind, data: None)
    _, cells = prepare(exp, only=only)  # once, before any worker: bad input fails before compute
    run_dir = exp.run_dir
    summary = RunSummary(run_dir=run_dir, trained=[], skipped_finished=[])
    queue: deque[tuple[int, str]] = deque()
    for i, cell in enumerate(cells, start=1):
        if store.is_finished(run_dir / "cells" / cell.id):
            summary.skipped_finished.append(cell.id)
            emit("cell_skipped", {"index": i, "total": len(cells), "cell_id": cell.id})
        else:
            queue.append((i, cell.id))
    if not queue:
        return summary
    pickled = write_experiment_pickle(exp)
    slots = plan_slots(device=device, jobs=jobs)
    log.info("local launcher: %d cells on %d slots (%s)", len(queue), len(slots), ", ".join(s.name for s in slots))
    logs = run_dir / ".launch" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running: dict[str, tuple[subprocess.Popen, int, str, Any]] = {}
    free = list(slots)
    # SIGTERM/SIGHUP become KeyboardInterrupt here, so _schedule's finally stops every worker: Python's
    # default (die on the spot) left them training as orphans next to a rerun.
    with signals.stop_on_signals():
        _schedule(queue, free, running, slots=slots, pickled=pickled, logs=logs, cells=cells, summary=summary,
                  emit=emit, run_dir=run_dir, save_checkpoints=save_checkpoints, poll_s=poll_s)
    return summary


def _schedule(queue: deque, free: list[Slot], running: dict, *, slots: list[Slot], pickled: Path, logs: Path,
              cells: list, summary: Any, emit: Event, run_dir: Path, save_checkpoints: bool, poll_s: float) -> None:
    try:
        while queue or running:
            while queue and free:
                slot = free.pop(0)
                index, cid = queue.popleft()
                fh = open(logs / f"{cid}.log", "ab")  # noqa: SIM115 - closed when the worker exits
                cmd = [sys.executable, "-m", "reportgen.launch.worker", str(pickled), cid,
                       "--device", slot.device, "--threads", str(slot.threads)]
                if not save_checkpoints:
                    cmd.append("--no-checkpoints")
                proc = subprocess.Popen(cmd, env=_worker_env(slot), stdout=fh, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
                running[slot.name] = (proc, index, cid, fh)
                emit("cell_start", {"index": index, "total": len(cells), "cell_id": cid, "slot": slot.name})
            time.sleep(poll_s)
            for name, (proc, index, cid, fh) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                fh.close()
                del running[name]
                free.append(next(s for s in slots if s.name == name))
                _collect(summary, emit, run_dir, cid, rc, {"index": index, "total": len(cells), "cell_id": cid,
                                                          "slot": name, "log": str(logs / f"{cid}.log")})
    finally:
        _stop_workers(running)


STOP_GRACE_S = 5.0


def _stop_workers(running: dict) -> None:
    """Interrupted: SIGTERM every worker, SIGKILL what is still alive after a few seconds.

    A worker checkpoints atomically after each epoch, so dying at any instant costs at most the epoch
    in progress; waiting longer for a "clean" stop would only keep the user (or a scheduler) waiting.
    """
    for proc, _, _, _fh in running.values():
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc, _, _, fh in running.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except KeyboardInterrupt:  # a second Ctrl-C while stopping: kill the rest at once
            proc.kill()
            proc.wait()
        fh.close()


def _collect(summary: Any, emit: Event, run_dir: Path, cid: str, rc: int, info: dict) -> None:
    cdir = run_dir / "cells" / cid
    if rc == 0 and store.is_finished(cdir):
        summary.trained.append(cid)
        emit("cell_done", {**info, "result": store.read_json(cdir / store.RESULT_FILE)})
    elif rc == EXIT_LOCKED:
        summary.skipped_locked.append(cid)
        emit("cell_locked", info)
    else:
        st = status.cell_status(run_dir, cid)
        killed = signals.signal_reason(rc)
        if killed and st.error is None and not signals.is_stop(rc):  # OOM killer, a crash: it could not say why
            status.record_failure(cdir, LaunchError(f"{killed}; the cell resumes from its last epoch when run "
                                                    "again", file=info["log"]))
            st = status.cell_status(run_dir, cid)
        error = st.error or killed or f"worker exited with code {rc} and left no error (see {info['log']})"
        summary.failed[cid] = error
        emit("cell_failed", {**info, "error": error})
