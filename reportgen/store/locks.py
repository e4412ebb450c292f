"""Per-cell locks: many processes (and nodes sharing the store) fill one results store safely.

A cell being trained holds an exclusive ``flock`` on ``<run>/.locks/<cell_id>.lock`` and writes its
owner (pid, host, start time) into the file. The kernel drops the ``flock`` when the owner dies, even
on ``kill -9``, so "file names an owner but nobody holds the lock" means the owner is dead: the next
worker takes the cell over (and resumes it from its checkpoint). A live owner's lock cannot be
taken, so a cell in training is skipped by every other worker. On release the owner record is
cleared but the file is kept: unlinking a lock file races with a process that has just opened it.

Linux emulates ``flock`` with POSIX byte-range locks on NFS, so the same works across nodes on a
shared filesystem. This module is torch-free (``reportgen status`` uses it).

The run-level lock (:func:`store_lock`, ``<run>/.lock``) is held only while run.json and the other run-level
files are written, never while a cell trains.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import store
from ..errors import StoreError
from . import safepath

log = logging.getLogger(__name__)
LOCK_DIR = ".locks"


def lock_path(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / LOCK_DIR / f"{cell_id}.lock"


def _open_nofollow(path: Path, flags: int) -> int:
    """Open (creating if asked) without following a symlink: a planted link must not redirect our writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.is_symlink():
        raise StoreError("the lock folder is a symbolic link", file=path.parent,
                         fix="remove the link; reportgen creates the folder itself")
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError("the lock file is a symbolic link", file=path,
                             fix="remove the link; reportgen creates the file itself") from None
        raise


def read_owner(path: Path) -> dict[str, Any] | None:
    """The owner record in a lock file, or None (no file, released, or unreadable)."""
    try:
        fd = _open_nofollow(path, os.O_RDONLY)
    except (FileNotFoundError, StoreError):
        return None
    with os.fdopen(fd, "rb") as fh:
        text = fh.read().decode("utf-8", "replace").strip()
    try:
        owner = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return owner if isinstance(owner, dict) else None


def is_held(path: Path) -> bool:
    """Whether a live process holds the lock (probed with a shared, non-blocking flock)."""
    try:
        fd = _open_nofollow(path, os.O_RDONLY)
    except (FileNotFoundError, StoreError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops our probe lock
    return False


@dataclass
class CellLock:
    """An acquired per-cell lock. ``took_over`` names the dead owner whose lock was taken, if any."""

    path: Path
    fd: int
    owner: dict[str, Any]
    took_over: dict[str, Any] | None

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            os.ftruncate(self.fd, 0)
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1

    def __enter__(self) -> CellLock:  # noqa: PYI034 - py3.10 has no typing.Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_lock(run_dir: Path, cell_id: str) -> CellLock | None:
    """Take the cell's lock, or return None if a live process is training it."""
    path = lock_path(run_dir, cell_id)
    fd = _open_nofollow(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    previous = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    took_over = None
    if previous:  # an owner record nobody holds: its process died without releasing
        try:
            took_over = json.loads(previous)
        except json.JSONDecodeError:
            took_over = {"raw": previous[:200]}
        log.warning("cell %s: taking over a stale lock left by pid %s on %s", cell_id,
                    took_over.get("pid"), took_over.get("host"))
    owner = {"pid": os.getpid(), "host": socket.gethostname(),
             "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
             "slurm_job_id": os.environ.get("SLURM_JOB_ID")}
    data = json.dumps(owner).encode()
    try:
        store.write_point(path, len(data))  # a write like any other: the fault-injection tests fail it too
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        raise store.disk_error(exc, path, len(data)) from exc
    return CellLock(path=path, fd=fd, owner=owner, took_over=took_over)


# --------------------------------------------------------------------------- the run-level lock
STORE_LOCK_TIMEOUT_S = float(os.environ.get("REPORTGEN_STORE_LOCK_TIMEOUT", "60"))


@contextlib.contextmanager
def store_lock(run_dir: Path) -> Iterator[None]:
    """Held only while run-level files are written: workers never hold it while training."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = safepath.open_lock(run_dir / ".lock")  # O_NOFOLLOW: a linked .lock must not truncate its target
    try:
        # Another process writes run.json for well under a second; one that holds the lock far longer is
        # stuck (or an old reportgen holding a whole-run lock): say so instead of waiting forever.
        deadline = time.monotonic() + STORE_LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError("another `reportgen run` has held this results store's lock for "
                                     f"{STORE_LOCK_TIMEOUT_S:.0f} s", file=run_dir / ".lock",
                                     fix="wait for that run to finish (or stop it), then run again") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)
