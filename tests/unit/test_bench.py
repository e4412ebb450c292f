"""`python -m bench --quick` end to end (the benchmark lives in bench/, outside the package): the files it
writes and the shape of what they hold (no timing asserts); the projection's arithmetic by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.bench import bench, format_table
from bench.scale import HW4, _makespan, hw4_projection, launcher_compare


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench-out")
    result = CliRunner().invoke(bench, ["--quick", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, result.output


def test_writes_json_and_markdown(quick_run: tuple[Path, str]) -> None:
    out, printed = quick_run
    data = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert (out / "bench.md").read_text(encoding="utf-8") == format_table(data)
    assert "| target | measured | goal | status |" in printed
    assert data["quick"] is True


def test_measurements_are_positive_and_complete(quick_run: tuple[Path, str]) -> None:
    data = json.loads((quick_run[0] / "bench.json").read_text(encoding="utf-8"))
    rg, bl, ce = data["reportgen"], data["baseline"], data["ceiling"]
    assert rg["decode"]["wall_s"] > 0 and rg["decode"]["memmapped"] is True
    for strategy in ("frozen", "finetune"):
        assert rg[strategy]["wall_s"] > 0 and bl[strategy]["wall_s"] > 0
        assert 0 <= rg[strategy]["test_accuracy"] <= 1 and 0 <= bl[strategy]["test_accuracy"] <= 1
    assert rg["frozen"]["frozen_mode"] == "cached_features"
    assert rg["frozen"]["epochs_run"] == 2 and len(bl["frozen"]["epoch_s"]) == 2
    assert len(rg["finetune"]["epoch_s"]) == 1 and len(ce["epoch_s"]) == 2  # ceiling: one each side of fit's
    assert ce["images_per_s"] > 0 and ce["n_train"] == data["data"]["n"]["train"]
    assert bl["frozen"]["n_train"] == data["data"]["n"]["train"]  # the same images on both sides
    for key in ("frozen_speedup", "frozen_speedup_without_decode", "finetune_epoch_over_ceiling"):
        assert data["ratios"][key] > 0
    assert data["peak_rss_mb"] > 0
    assert {v["status"] for v in data["verdicts"]} <= {"PASS", "MISS", "INFO"}
    assert len(data["verdicts"]) == 3  # no demo and no launcher run in --quick, no GPU here
    ratios = data["ratios"]
    assert "launcher_local_over_inline" in ratios and ratios["launcher_local_over_inline"] is None
    assert data["scale"]["launcher"] == {"skipped": "--quick"}


def test_machine_and_gpu_note(quick_run: tuple[Path, str]) -> None:
    data = json.loads((quick_run[0] / "bench.json").read_text(encoding="utf-8"))
    m = data["machine"]
    assert m["cpu_count"] >= 1 and m["torch_threads"] >= 1 and m["torch"]
    assert len(data["load_average_start"]) == 3 and len(data["load_average_end"]) == 3
    if not m["cuda"]:
        assert data["gpu"] == {"available": False, "note": "no CUDA device on this machine"}
    assert "demo" not in data


def test_seed_summary_matches_a_hand_computed_welch_interval() -> None:
    """reportgen 50/60/70 % vs baseline 60/70/80 %: means 60 and 70, sd 10 each; Welch SE = sqrt(200/3),
    4 degrees of freedom, t(0.975, 4) = 2.776445, so the difference is −10 ± 22.67 points."""
    from bench.training import _seed_summary

    study = {"seeds": [1, 2], "reportgen": {1: 0.6, 2: 0.7}, "baseline": {1: 0.7, 2: 0.8}}
    s = _seed_summary(study, (0.5, 0.6))
    assert s["n_seeds"] == 3
    assert s["reportgen_mean"] == pytest.approx(60) and s["baseline_mean"] == pytest.approx(70)
    assert s["reportgen_sd"] == pytest.approx(10) and s["baseline_sd"] == pytest.approx(10)
    assert s["diff_points"] == pytest.approx(-10)
    half = 2.776445 * (200 / 3) ** 0.5
    assert s["diff_ci95"] == pytest.approx([-10 - half, -10 + half], abs=1e-3)
    assert s["within_noise"] is True
    far = _seed_summary({"seeds": [1, 2], "reportgen": {1: 0.30, 2: 0.31}, "baseline": {1: 0.80, 2: 0.81}},
                        (0.305, 0.805))
    assert far["within_noise"] is False and far["diff_points"] == pytest.approx(-50)


def test_ceiling_runs_the_cells_own_step(quick_run: tuple[Path, str]) -> None:
    """The ceiling is reportgen's epoch minus the input pipeline: same dtype and memory format."""
    data = json.loads((quick_run[0] / "bench.json").read_text(encoding="utf-8"))
    ce = data["ceiling"]
    assert ce["dtype"] is None and ce["channels_last"] is False  # CPU, amp = auto: fp32, NCHW as the cell
    n = data["settings"]["epochs"]
    assert len(ce["epoch_s"]) == len(ce["epoch_cpu_s"]) == n + 1  # C R C … C: one more than reportgen's
    assert len(data["reportgen_fit"]["epoch_s"]) == n and data["ratios"]["finetune_epoch_over_ceiling"] > 0


def test_pipeline_and_projection_sit_beside_the_ratios(quick_run: tuple[Path, str]) -> None:
    data = json.loads((quick_run[0] / "bench.json").read_text(encoding="utf-8"))
    pipe, proj = data["scale"]["pipeline"], data["scale"]["hw4_projection"]
    for key in ("flips", "medical"):
        assert pipe["reportgen"][key]["images_per_s"] > 0
    assert pipe["seeds_loop"]["flips"]["images_per_s"] > 0 and pipe["seeds_loop"]["flips"]["num_workers"] == 2
    assert "timm" in pipe["gpu_appetite"]["source"] and pipe["gpu_appetite"]["url"].startswith("https://")
    assert data["ratios"]["pipeline_reportgen_over_seeds"] == pytest.approx(pipe["reportgen_over_seeds"])
    assert proj["kind"].startswith("projection") and 0 < proj["gpus"]["8"] <= proj["gpus"]["1"]
    assert "## hw4 matrix — projection" in (quick_run[0] / "bench.md").read_text(encoding="utf-8")


def test_hw4_projection_by_hand() -> None:
    """Train 1e-3 s/img, eval 5e-4 s/img, 10 s overhead per cell, decode 5856 images at 5856 img/s (1 s)."""
    c = {"train_s_per_image": 1e-3, "eval_s_per_image": 5e-4}
    p = hw4_projection({b: c for b in HW4["backbones"]}, overhead_s=10.0, decode_images_per_s=5856.0, device="cuda")
    e, tr, va, te = HW4["epochs"], HW4["n_train"], HW4["n_val"], HW4["n_test"]
    trained = e * (tr * 1e-3 + va * 5e-4) + te * 5e-4 + 10  # finetune and scratch
    frozen = (tr + va + te) * 5e-4 + 10
    assert p["cells_s_gpu"]["efficientnet_b2/finetune"] == pytest.approx(trained)
    assert p["cells_s_gpu"]["shufflenet_v2_x0_5/frozen"] == pytest.approx(frozen)
    assert p["gpus"]["1"] == pytest.approx(1 + 4 * trained + 2 * frozen)
    assert p["gpus"]["8"] == pytest.approx(1 + trained)  # six cells, eight GPUs: the longest cell
    assert _makespan([5, 4, 3, 3], 2) == 8


def test_launcher_part_skips_clearly_without_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    class Help:
        stdout = "Usage: reportgen run [OPTIONS] EXPERIMENT\n  --device TEXT\n"

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Help())
    out = launcher_compare(tmp_path, device="cpu")
    assert out == {"skipped": "launcher not available: `reportgen run --help` lists no --launcher option"}


def test_bench_is_not_a_command_of_the_installed_package() -> None:
    """The benchmark lives in the repository (`make bench`); the package has no stub for it."""
    from reportgen.cli import cli

    result = CliRunner().invoke(cli, ["bench", "--quick"])
    assert result.exit_code == 2 and "No such command 'bench'" in result.output
    assert "bench" not in cli.list_commands(None)  # type: ignore[arg-type]


def test_interleaved_ratio_by_hand() -> None:
    from bench.ceiling import interleaved_ratio

    # ceiling 10, 30, 10 around reportgen 22, 22: each against the mean of its neighbours (20) → 1.1
    assert interleaved_ratio([22.0, 22.0], [10.0, 30.0, 10.0]) == pytest.approx(1.1)
