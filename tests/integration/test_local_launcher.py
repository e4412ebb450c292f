"""`reportgen run --launcher local`: a queue of cells, each in its own worker process, on 2 CPU slots."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from pathlib import Path

from click.testing import CliRunner

from reportgen import store
from reportgen.cli import cli
from reportgen.launch.local import plan_slots
from tests.conftest import DEMO_NPZ, tiny_npz_experiment


def _four_cells(tmp_path: Path, *, path_fix: str | None = None) -> Path:
    path = {} if path_fix is None else {"path": str(DEMO_NPZ.with_name(path_fix))}
    return tiny_npz_experiment(tmp_path, strategies=["scratch"], seeds=[0, 1, 2, 3], backbone="smallcnn",
                               weights="none", n_train=300, size=28, dataset=path)


def _interval(cell: Path) -> tuple[dt.datetime, dt.datetime]:
    r = store.read_json(cell / "result.json")
    end = dt.datetime.fromisoformat(r["finished_at"])
    return end - dt.timedelta(seconds=r["wall_time_s"]), end


def test_two_cpu_slots_fill_a_four_cell_store(tmp_path: Path) -> None:
    toml = _four_cells(tmp_path)
    result = CliRunner().invoke(cli, ["run", str(toml), "--launcher", "local", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.count("(cpu0)") + result.output.count("(cpu1)") == 4
    assert "(cpu0)" in result.output and "(cpu1)" in result.output
    run_dir = tmp_path / "runs" / "tiny"
    run = store.load_run(run_dir)
    assert len(run.cells) == 4 and not run.missing
    cores = len(os.sched_getaffinity(0))
    assert {c.env.torch_threads for c in run.cells} == {max(1, cores // 2)}  # threads divided
    spans = sorted(_interval(c.path) for c in run.cells)
    # two slots: some cell started before the previous one ended (cells ran side by side)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans))
    assert len(list((run_dir / ".launch" / "logs").glob("*.log"))) == 4
    again = CliRunner().invoke(cli, ["run", str(toml), "--launcher", "local", "--jobs", "2"])
    assert again.exit_code == 0 and again.output.count("already finished") == 4


def test_bad_input_fails_in_the_parent_before_any_worker(tmp_path: Path) -> None:
    toml = _four_cells(tmp_path, path_fix="missing.npz")
    result = CliRunner().invoke(cli, ["run", str(toml), "--launcher", "local", "--jobs", "2"])
    assert result.exit_code == 2 and "missing.npz" in result.output
    assert not (tmp_path / "runs" / "tiny" / ".launch").exists()


def test_slots_one_per_gpu_or_jobs_cpu_slots() -> None:
    slots = plan_slots(device="cpu", jobs=3)
    assert [s.name for s in slots] == ["cpu0", "cpu1", "cpu2"] and all(s.device == "cpu" for s in slots)
    assert all(s.threads == max(1, len(os.sched_getaffinity(0)) // 3) for s in slots)


def test_launcher_table_in_the_toml_is_validated(tmp_path: Path) -> None:
    toml = _four_cells(tmp_path)
    toml.write_text(toml.read_text() + '\n[launcher]\nkind = "local"\njobs = 2\n[launcher.slurm]\npartitio = "gpu"\n')
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 2
    assert "launcher.slurm.partitio" in result.output and 'did you mean "partition"' in result.output


def test_one_slot_per_visible_gpu(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    slots = plan_slots(device="auto", jobs=7)  # --jobs is for CPU slots; GPUs decide here
    assert [(s.name, s.device, s.env) for s in slots] == [
        ("gpu3", "cuda", {"CUDA_VISIBLE_DEVICES": "3"}), ("gpu5", "cuda", {"CUDA_VISIBLE_DEVICES": "5"})]
    assert [s.name for s in plan_slots(device="cpu", jobs=2)] == ["cpu0", "cpu1"]  # --device cpu ignores GPUs
