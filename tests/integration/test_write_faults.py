"""A fault at every write of a real two-cell run: disk full (ENOSPC), an I/O error (EIO) and ``kill -9``.

Every file reportgen writes passes through one choke point (``store.write_point``, called by
``store.atomic_write_bytes`` and the lock-owner record), so counting its calls in an uninterrupted run
gives every write point; each case fails exactly one of them and then checks what a user would:
exit 2 naming the file (or the kill), a store that loads, ``check`` passing on the finished cells, no temp
file left after the rerun, and a rerun that ends with exactly the uninterrupted run's metrics and
predictions (``deterministic = true``). The default tier runs a sample of write points; the full sweep
over every write point and mode is ``slow``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reportgen import store
from reportgen.cli import cli
from tests import faults
from tests.conftest import ROOT, tiny_npz_experiment


def _toml(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return tiny_npz_experiment(folder, strategies=["scratch"], seeds=[0, 1], backbone="smallcnn", weights="none",
                               n_train=64, size=28, train={"deterministic": True})


def _outcome(run_dir: Path) -> dict[str, tuple]:
    """What a finished run must reproduce: every cell's metrics and stored predictions."""
    return {c.name: (store.read_json(c / "metrics.json"), (c / "predictions_val.csv").read_bytes(),
                     (c / "predictions_test.csv").read_bytes())
            for c in sorted((run_dir / "cells").iterdir())}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An uninterrupted run, counting its writes (each write's target path, in order)."""
    folder = tmp_path_factory.mktemp("baseline")
    inj = faults.install(0, "count")
    try:
        result = CliRunner().invoke(cli, ["run", str(_toml(folder)), "--no-progress"])
    finally:
        faults.uninstall()
    assert result.exit_code == 0, result.output
    run_dir = folder / "runs" / "tiny"
    return {"writes": [Path(p).relative_to(run_dir) for p in inj.paths], "outcome": _outcome(run_dir)}


def _after_fault(run_dir: Path, baseline: dict) -> None:
    if (run_dir / "run.json").is_file():  # a fault before the first write leaves no store at all
        finished = store.load_run(run_dir).cells  # loads
        checked = CliRunner().invoke(cli, ["check", str(run_dir)])
        assert checked.exit_code == 0, checked.output
        assert f"ok: {len(finished)} cell" in checked.output
    rerun = CliRunner().invoke(cli, ["run", str(run_dir.parents[1] / "tiny.toml"), "--no-progress"])
    assert rerun.exit_code == 0, rerun.output
    assert not list(run_dir.rglob("*.tmp")), "a temp file survived the rerun"
    assert _outcome(run_dir) == baseline["outcome"]


def run_case(tmp: Path, baseline: dict, mode: str, n: int) -> None:
    toml = _toml(tmp)
    run_dir = tmp / "runs" / "tiny"
    if mode == "kill":
        proc = subprocess.run([sys.executable, str(ROOT / "tests" / "faults.py"), "kill", str(n), "--", "run",
                               str(toml), "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                              # the same torch threads as this process: float sums then match bit for bit
                              env={**os.environ, "PYTHONPATH": str(ROOT),
                                   "OMP_NUM_THREADS": str(torch.get_num_threads())}, timeout=600)
        assert proc.returncode == -9, proc.stdout + proc.stderr
    else:
        inj = faults.install(n, mode)
        try:
            result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress"])
        finally:
            faults.uninstall()
        assert inj.count >= n
        failed_path = inj.paths[n - 1]
        assert result.exit_code == 2, result.output
        assert failed_path in result.output and "Traceback" not in result.output
        assert "finished cells are kept" in result.output
        if mode == "enospc":
            assert "No space left on device" in result.output and "MB free" in result.output
    _after_fault(run_dir, baseline)


def test_the_run_has_many_write_points_all_inside_the_store(baseline: dict) -> None:
    writes = baseline["writes"]
    assert len(writes) >= 30, writes  # run files, samples, per cell: records, checkpoints, predictions, figures
    names = {p.name for p in writes}
    assert {"run.json", "checkpoint.pt", "epochs.csv", "predictions_test.csv", "metrics.json", "best.pt",
            "result.json"} <= names
    assert any(p.parts[0] == ".locks" for p in writes)  # the lock-owner record is a write point too


@pytest.mark.parametrize("mode,where", [("enospc", 0.3), ("eio", 0.97), ("kill", 0.6)])
def test_a_fault_at_a_sample_of_write_points(tmp_path: Path, baseline: dict, mode: str, where: float) -> None:
    n = 1 + int(where * (len(baseline["writes"]) - 1))
    run_case(tmp_path, baseline, mode, n)


@pytest.mark.slow
@pytest.mark.parametrize("mode", faults.MODES)
def test_a_fault_at_every_write_point(tmp_path: Path, baseline: dict, mode: str) -> None:
    total = len(baseline["writes"])
    for n in range(1, total + 1):
        try:
            run_case(tmp_path / f"n{n}", baseline, mode, n)
        except AssertionError as exc:
            raise AssertionError(f"{mode} at write {n} of {total} ({baseline['writes'][n - 1]}): {exc}") from exc
    print(f"{mode}: {total} write points covered")
