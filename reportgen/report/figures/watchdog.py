"""Figure workers never outlive their render, and yield the CPU to it.

A worker must not outlive a killed render (``kill -9`` of the parent never runs the pool's shutdown): on
Linux the kernel sends it SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); elsewhere, or if that call
fails, a watchdog thread exits once the parent pid changes.
"""

from __future__ import annotations

import os
import sys
import threading


def worker_setup() -> None:
    """Worker set-up: die with the parent, and yield to it.

    A worker must not outlive a killed render (``kill -9`` of the parent never runs the pool's
    shutdown): on Linux the kernel sends it SIGKILL when the parent dies (``PR_SET_PDEATHSIG``);
    elsewhere, or if that call fails, a watchdog thread exits once the parent pid changes.
    Workers yield to the main process: its PDF layout is the critical path, the figures it
    waits for are queued in the order it needs them, and spare cycles finish them anyway."""
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watchdog").start()
    try:
        os.nice(5)
    except OSError:
        pass


def _die_with_parent() -> bool:
    if sys.platform != "linux":
        return False
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        return libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, interval: float = 0.5) -> None:
    import time

    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)

