"""`--launcher slurm` against a real Slurm (a one-node cluster from `make slurm-up`): a tiny matrix as
one submitit job array fills the store and renders; a task requeued while it trains (what preemption
does) resumes from its checkpoint. Skipped with the reason when no idle Slurm node is reachable."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen import store
from reportgen.cli import cli
from reportgen.store.locks import lock_path, read_owner
from tests.conftest import ROOT, tiny_npz_experiment

pytestmark = pytest.mark.slurm


def _idle_node() -> str | None:
    """None when a node can take work, else why the tests cannot run."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no Slurm client here (run `make slurm-up` as root on Debian/Ubuntu)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo failed: {exc}"
    if not re.search(r"^(idle|mixed)", out.stdout, re.MULTILINE):
        return f"no idle Slurm node (sinfo: {out.stdout.strip() or out.stderr.strip()})"
    return None


@pytest.fixture(autouse=True)
def _cluster() -> None:
    reason = _idle_node()
    if reason:
        pytest.skip(reason)


def _matrix(tmp_path: Path, *, seeds: str, n_train: int, epochs: int) -> Path:
    return tiny_npz_experiment(tmp_path, strategies=["scratch"], seeds=seeds, backbone="smallcnn", weights="none",
                               n_train=n_train, size=28, train={"epochs": epochs})


def _run(args: list[str], tmp_path: Path, timeout: int) -> subprocess.CompletedProcess:
    # The array tasks import this checkout's reportgen (sbatch passes the environment on).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REPORTGEN_CACHE_DIR": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "reportgen.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_job_array_fills_the_store_and_it_renders(tmp_path: Path) -> None:
    toml = _matrix(tmp_path, seeds="[0, 1, 2]", n_train=300, epochs=1)
    out = _run(["run", str(toml), "--launcher", "slurm"], tmp_path, timeout=480)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"submitted Slurm job array \d+ \(3 tasks", out.stdout)
    run_dir = tmp_path / "runs" / "tiny"
    run = store.load_run(run_dir)
    assert len(run.cells) == 3 and not run.missing
    assert all(c.result.epochs_run == 1 and c.env.host for c in run.cells)
    assert len(list((run_dir / ".submitit").glob("*_submitted.pkl"))) == 3  # one pickled call per task
    assert not list(run_dir.rglob("checkpoint.pt"))
    status = CliRunner().invoke(cli, ["status", str(run_dir)])
    assert "0 pending, 0 running, 3 done, 0 failed" in status.output
    rendered = CliRunner().invoke(cli, ["render", str(run_dir), "--lang", "en"])
    assert rendered.exit_code == 0, rendered.output
    assert (run_dir / "report.html").is_file()


def test_requeued_task_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    toml = _matrix(tmp_path, seeds="[0]", n_train=2000, epochs=5)
    out = _run(["run", str(toml), "--launcher", "slurm", "--no-wait"], tmp_path, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    job = re.search(r"job array (\d+)", out.stdout)
    assert job, out.stdout
    run_dir = tmp_path / "runs" / "tiny"
    deadline = time.time() + 300
    cell_dir = None
    while time.time() < deadline and cell_dir is None:
        for csv in run_dir.glob("cells/*/epochs.csv"):
            if len(store.read_csv(csv)) >= 1 and not (csv.parent / "result.json").exists():
                cell_dir = csv.parent
        time.sleep(0.1)
    assert cell_dir is not None, "the task never finished an epoch"
    # What preemption does: Slurm stops the running task and puts it back in the queue. The task's own
    # job id is in its cell lock (a one-task array is submitted as a plain job).
    owner = read_owner(lock_path(run_dir, cell_dir.name))
    assert owner is not None and owner["slurm_job_id"], owner
    requeue = subprocess.run(["scontrol", "requeue", owner["slurm_job_id"]], capture_output=True, text=True,
                             timeout=30, check=False)
    assert requeue.returncode == 0, requeue.stderr
    # Slurm holds a requeued job for ~2 minutes (BeginTime); make it eligible now to keep the test short.
    # The update only sticks once the requeue has landed (PENDING, reason BeginTime): poll the job's state.
    job_id, left_running = owner["slurm_job_id"], False
    for _ in range(240):
        state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], capture_output=True, text=True,
                               timeout=30, check=False).stdout.strip()
        if not state.startswith("RUNNING"):
            left_running = True
        elif left_running:
            break  # back on a node
        if "BeginTime" in state:
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], capture_output=True,
                           text=True, timeout=30, check=False)
        if not state and left_running:
            break  # already finished again
        time.sleep(0.5)
    while time.time() < deadline + 300 and not (cell_dir / "result.json").exists():
        time.sleep(1)
    result = store.read_json(cell_dir / "result.json")
    assert result["resumed_from_epoch"] is not None and 1 <= result["resumed_from_epoch"] < 5
    assert result["epochs_run"] == 5
    assert [int(r["epoch"]) for r in store.read_csv(cell_dir / "epochs.csv")] == [1, 2, 3, 4, 5]
    assert not (cell_dir / "checkpoint.pt").exists()
