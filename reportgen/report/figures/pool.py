"""The worker processes that draw figures (and the other languages' PDFs): how many, and the forked pool.

Figures are drawn by forked worker processes (one per CPU) in document order while the main process
lays out the PDF, which waits only for the figure it needs next (:class:`~.figure_set.FigureSet`). Each
worker is set up by :func:`.watchdog.worker_setup` so it never outlives a killed render.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from .watchdog import worker_setup


def default_workers() -> int:
    """Processes that draw figures (and the other languages' PDFs): one per CPU, at most 4.

    Only where ``fork`` exists (Linux): a forked worker inherits matplotlib, the registered font and
    the imported modules, so it starts in milliseconds; a spawned one would re-import for a second.
    ``REPORTGEN_RENDER_JOBS=1`` turns the pool off.
    """
    env = os.environ.get("REPORTGEN_RENDER_JOBS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if sys.platform != "linux":
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, 4))


def worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """A forked process pool, or None (draw in this process) for one worker or no ``fork``."""
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=worker_setup)
    # Fork every worker now, from this thread, before any helper thread exists or WeasyPrint holds
    # a lock: the first submit launches them all (the fork start method never spawns lazily).
    pool.submit(os.getpid)
    return pool
