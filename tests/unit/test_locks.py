"""Per-cell locks and `reportgen status`: a live owner blocks, a dead owner's lock is taken over."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen import store
from reportgen.errors import StoreError
from reportgen.store import status
from reportgen.store.locks import is_held, lock_path, read_owner, try_lock
from tests.conftest import ROOT

CELL = "pnm-smallcnn-scratch-s0-12345678"
HOLD = """
import sys, time
from reportgen.store.locks import try_lock
lock = try_lock(sys.argv[1], sys.argv[2])
print("locked" if lock else "busy", flush=True)
if sys.argv[3] == "die":
    import os; os._exit(0)  # like kill -9: no release, the kernel drops the flock
time.sleep(120)
"""


def _holder(run_dir: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir), CELL, mode], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    store.write_json(tmp_path / "run.json", {"schema": 1, "name": "t", "cells": [CELL]})
    return tmp_path


def test_live_owner_blocks_and_status_shows_running(run_dir: Path) -> None:
    proc = _holder(run_dir, "hold")
    try:
        assert try_lock(run_dir, CELL) is None
        assert is_held(lock_path(run_dir, CELL))
        st = status.run_status(run_dir)[0]
        assert st.state == "running" and st.host == socket.gethostname() and st.elapsed_s is not None
        assert read_owner(lock_path(run_dir, CELL))["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # its owner is dead now: the lock is stale and the next worker takes it over
    assert status.run_status(run_dir)[0].state == "pending"
    lock = try_lock(run_dir, CELL)
    assert lock is not None and lock.took_over is not None and lock.took_over["pid"] == proc.pid
    lock.release()
    assert read_owner(lock_path(run_dir, CELL)) is None  # released: no owner, nothing to take over
    again = try_lock(run_dir, CELL)
    assert again is not None and again.took_over is None
    again.release()


def test_stale_lock_from_dead_process_is_taken_over(run_dir: Path) -> None:
    proc = _holder(run_dir, "die")
    proc.wait()
    owner = read_owner(lock_path(run_dir, CELL))
    assert owner is not None and owner["pid"] == proc.pid  # the record survives its process
    assert not is_held(lock_path(run_dir, CELL))
    with try_lock(run_dir, CELL) as lock:
        assert lock.took_over["pid"] == proc.pid and lock.took_over["host"] == socket.gethostname()
        assert read_owner(lock_path(run_dir, CELL))["pid"] == os.getpid()
        assert status.run_status(run_dir)[0].state == "running"  # held by this process (probe from a new fd)


def test_lock_file_symlink_is_never_followed(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = tmp_path_factory.mktemp("elsewhere") / "precious.txt"
    target.write_text("keep me")
    path = lock_path(run_dir, CELL)
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        try_lock(run_dir, CELL)
    assert target.read_text() == "keep me"


def test_status_reports_failed_cell_with_its_error(run_dir: Path) -> None:
    cdir = run_dir / "cells" / CELL
    try:
        raise RuntimeError("boom in a worker")
    except RuntimeError as exc:
        status.record_failure(cdir, exc)
    st = status.run_status(run_dir)[0]
    assert st.state == "failed" and st.error == "RuntimeError: boom in a worker"
    assert "error: RuntimeError: boom in a worker" in status.format_status([st])
    status.clear_failure(cdir)
    assert status.run_status(run_dir)[0].state == "pending"


def test_status_without_a_store_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run.json"):
        status.run_status(tmp_path)
