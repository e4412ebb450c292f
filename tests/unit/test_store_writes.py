"""The store's one write choke point: disk errors as one message, temp files of dead writers removed."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
from pathlib import Path

import pytest

from reportgen import store
from reportgen.errors import StoreError
from reportgen.store.locks import try_lock
from tests import faults


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def fail_next():
    def install(mode: str) -> None:
        faults.install(1, mode)

    yield install
    faults.uninstall()


def test_disk_full_names_the_file_the_size_the_free_space_and_what_is_kept(tmp_path: Path, fail_next) -> None:
    target = tmp_path / "cells" / "c1" / "checkpoint.pt"
    fail_next("enospc")
    with pytest.raises(StoreError) as info:
        store.atomic_write_bytes(target, b"x" * 2_500_000)
    msg = str(info.value)
    assert str(target) in msg and "No space left on device" in msg
    assert "2.50 MB" in msg and "MB free" in msg and "finished cells are kept" in msg
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC  # callers handling OSError still do
    assert list(target.parent.iterdir()) == []  # no temp file left, no half file


def test_an_io_error_keeps_the_old_file(tmp_path: Path, fail_next) -> None:
    target = tmp_path / "metrics.json"
    store.atomic_write_bytes(target, b"old")
    fail_next("eio")
    with pytest.raises(StoreError, match="Input/output error"):
        store.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_failed_lock_record_is_the_same_message(tmp_path: Path, fail_next) -> None:
    fail_next("enospc")
    with pytest.raises(StoreError, match="lock"):
        try_lock(tmp_path, "cell-a")
    faults.uninstall()
    lock = try_lock(tmp_path, "cell-a")  # the descriptor was closed: the lock can be taken again
    assert lock is not None
    lock.release()


def test_temp_files_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    host = socket.gethostname().split(".")[0]
    folder = tmp_path / "cells" / "c1" / "explain"
    folder.mkdir(parents=True)
    dead = folder / f".test_0.png.{host}-{_dead_pid()}.a1b2c3d4.tmp"
    mine = folder / f".test_1.png.{host}-{os.getpid()}.a1b2c3d4.tmp"
    elsewhere = folder / f".test_2.png.othernode-{_dead_pid()}.a1b2c3d4.tmp"  # a node of a shared store
    for p in (dead, mine, elsewhere):
        p.write_bytes(b"partial")
    assert store.clean_stale_temp_files(tmp_path) == [dead]
    assert mine.exists() and elsewhere.exists()


def test_temp_files_carry_host_and_pid(tmp_path: Path) -> None:
    seen = []

    def spy(path: Path, nbytes: int) -> None:
        seen.extend(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp"))

    store.write_hook = spy
    try:
        store.atomic_write_bytes(tmp_path / "a.json", b"{}")
    finally:
        store.write_hook = None
    (name,) = seen
    assert name.startswith(f".a.json.{socket.gethostname().split('.')[0]}-{os.getpid()}.")
