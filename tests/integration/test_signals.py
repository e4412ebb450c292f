"""Signals and dying workers: a stopped run leaves no process behind and every cell resumable; a worker
killed from outside (the OOM killer's SIGKILL) fails its cell with the reason while the other slot goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reportgen import store
from reportgen.store import status
from tests.conftest import ROOT, tiny_npz_experiment

EPOCHS = 6


def _toml(tmp_path: Path, *, seeds: str = "[0, 1]", epochs: int = EPOCHS) -> Path:
    # ~1-2 s per epoch on one thread: long enough to be caught mid-epoch, short enough to resume quickly.
    return tiny_npz_experiment(tmp_path, strategies=["scratch"], seeds=seeds, backbone="smallcnn", weights="none",
                               n_train=1000, size=28, train={"epochs": epochs, "deterministic": True})


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reportgen.cli", *args], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _descendants(pid: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _epochs_done(cell: Path) -> int:
    try:
        return len(store.read_csv(cell / "epochs.csv")) if (cell / "checkpoint.pt").is_file() else 0
    except Exception:  # noqa: BLE001 - being written right now
        return 0


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def _cells(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "cells").glob("*")) if (run_dir / "cells").is_dir() else []


@pytest.mark.slow  # two processes training + a rerun: ~2 min on a shared 2-core box
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_to_the_local_launcher_stops_every_worker_and_the_rerun_resumes(tmp_path: Path, sig) -> None:
    toml = _toml(tmp_path)
    run_dir = tmp_path / "runs" / "tiny"
    proc = _spawn("run", str(toml), "--launcher", "local", "--jobs", "2", "--no-progress")
    try:
        assert _wait(lambda: len(_cells(run_dir)) == 2 and all(_epochs_done(c) >= 1 for c in _cells(run_dir)),
                     120), proc.stdout.read() if proc.poll() is not None else "no epoch finished"
        workers = _descendants(proc.pid)
        assert len(workers) >= 2  # both cells training in their own processes
        kept = {c.name: _epochs_done(c) for c in _cells(run_dir)}
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=10)
        time.sleep(0.5)
        alive = [p for p in workers if _running(p)]
        assert not alive, f"workers still alive after {signal.Signals(sig).name}: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "run the same command to resume" in out and _says_what_was_kept(out)
    for c in _cells(run_dir):
        assert not (c / status.FAILED_FILE).exists()  # stopped, not failed
    rerun = _spawn("run", str(toml), "--launcher", "local", "--jobs", "2", "--no-progress")
    out2, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out2
    for c in _cells(run_dir):
        result = json.loads((c / "result.json").read_text())
        assert result["resumed_from_epoch"] is not None and result["resumed_from_epoch"] >= kept[c.name]
        assert result["epochs_run"] == EPOCHS


def _says_what_was_kept(out: str) -> bool:
    """The interrupt message names the saved epoch (the run command's wording, read from the checkpoint)."""
    import re

    return bool(re.search(r"epochs? [\d–-]+ (is|are) saved|resumes after epoch", out))


def test_sigterm_to_an_inline_run_keeps_the_cell_resumable(tmp_path: Path) -> None:
    toml = _toml(tmp_path, seeds="[0]", epochs=6)
    run_dir = tmp_path / "runs" / "tiny"
    proc = _spawn("run", str(toml), "--no-progress")
    try:
        assert _wait(lambda: any(_epochs_done(c) >= 1 for c in _cells(run_dir)), 120)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "Traceback" not in out and _says_what_was_kept(out)
    (st,) = status.run_status(run_dir)
    assert st.state == "pending" and st.resumable and st.last_epoch >= 1  # lock released, no failed.json


@pytest.mark.slow
def test_a_worker_killed_from_outside_fails_its_cell_with_the_reason_and_the_other_goes_on(tmp_path: Path) -> None:
    toml = _toml(tmp_path, epochs=2)
    run_dir = tmp_path / "runs" / "tiny"
    proc = _spawn("run", str(toml), "--launcher", "local", "--jobs", "2", "--no-progress")
    try:
        assert _wait(lambda: len(_cells(run_dir)) == 2 and len(list((run_dir / ".locks").glob("*.lock"))) == 2
                     and all(json.loads((p.read_text() or "{}")).get("pid") for p in (run_dir / ".locks").glob("*")),
                     120)
        victim_lock = sorted((run_dir / ".locks").glob("*.lock"))[0]
        victim = victim_lock.stem
        os.kill(json.loads(victim_lock.read_text())["pid"], signal.SIGKILL)  # what the OOM killer does
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out
    assert "SIGKILL" in out and "Traceback" not in out
    states = {s.cell_id: s for s in status.run_status(run_dir)}
    assert states[victim].state == "failed" and "out-of-memory" in states[victim].error
    (other,) = [s for cid, s in states.items() if cid != victim]
    assert other.state == "done"
