"""Stopping a run on a signal without orphans, and saying what the store kept.

- :func:`stop_on_signals`: SIGTERM and SIGHUP (a closed terminal, ``kill``, a scheduler stopping the
  job) become the same ``KeyboardInterrupt`` as Ctrl-C, so one code path cleans up: the runner's
  ``finally`` blocks release the cell lock, the local launcher's stop its workers. Python's default
  for SIGTERM/SIGHUP is to die on the spot, which left the local launcher's workers training on as
  orphans next to a rerun.
- :func:`die_with_parent`: a worker asks the kernel for SIGTERM when its parent dies (Linux
  ``PR_SET_PDEATHSIG``), so even a ``kill -9`` of the launcher stops every worker.
- :func:`signal_reason`: why a worker died, from its exit status (SIGKILL: often the OOM killer).
- :func:`interrupted_note`: what an interrupted run kept when the interrupt came before `run` watched a
  cell; the words are ``train.progress.interrupted_message``'s, the one message `run` prints after an
  interrupt, whatever the launcher.

Every cell checkpoints atomically after each epoch, so a worker stopped at any instant resumes
from its last finished epoch.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

STOP_SIGNALS = ("SIGTERM", "SIGHUP")
PR_SET_PDEATHSIG = 1


class Stopped(KeyboardInterrupt):
    """The run was asked to stop by a signal (a KeyboardInterrupt, so every Ctrl-C path applies)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise :class:`Stopped` in the main thread (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, _raise_stopped)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def die_with_parent(parent_pid: int | None, sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux); exit if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the launcher's finally still stops its workers
        return
    if parent_pid and os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


def is_stop(returncode: int) -> bool:
    """A worker ended by a stop request (Ctrl-C, SIGTERM, SIGHUP): its cell is interrupted, not failed."""
    stops = {signal.SIGINT} | {getattr(signal, n) for n in STOP_SIGNALS if hasattr(signal, n)}
    return returncode < 0 and -returncode in stops


def signal_reason(returncode: int) -> str | None:
    """Why a worker that exited with ``returncode`` died, if a signal killed it."""
    if returncode >= 0:
        return None
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    if -returncode == signal.SIGKILL:
        return (f"the worker process was killed by {name} from outside (the kernel's out-of-memory killer does "
                "this when memory runs out; so does `kill -9`)")
    return f"the worker process was killed by {name}"


_RUN_DIR: list[Path] = []  # the store of the `reportgen run` in this process (the CLI sets it)


def stop_run_on_signals(run_dir: Path) -> None:
    """For the `reportgen run` process: SIGTERM/SIGHUP raise :class:`Stopped` from now on (main thread).

    Process-wide on purpose: the CLI process exists to run this one experiment, and the
    KeyboardInterrupt path (locks released, workers stopped) is what every stop should take.
    """
    _RUN_DIR[:] = [Path(run_dir)]
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None:
                signal.signal(sig, _raise_stopped)


def interrupted_note() -> str | None:
    """The message for a `reportgen run` interrupted before its cells were watched (None when no run was
    started in this process): `run` itself prints the watched message, so this one is reached only while the
    run was still starting, before any cell began training in this process."""
    if not _RUN_DIR:
        return None
    from .. import store
    from ..train.progress import interrupted_message

    cells = _RUN_DIR[0] / "cells"
    try:
        finished = sum(store.is_finished(c) for c in cells.iterdir()) if cells.is_dir() else 0
    except OSError:  # an unreadable store must not hide the interrupt itself
        finished = 0
    return interrupted_message(current=None, run_dir=_RUN_DIR[0], finished=finished)
