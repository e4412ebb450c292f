"""`reportgen bench --quick` end to end: the files it writes and the shape of what they hold (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.bench import bench, format_table


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
    assert len(rg["finetune"]["epoch_s"]) == len(ce["epoch_s"]) == 1
    assert ce["images_per_s"] > 0 and ce["n_train"] == data["data"]["n"]["train"]
    assert bl["frozen"]["n_train"] == data["data"]["n"]["train"]  # the same images on both sides
    for key in ("frozen_speedup", "frozen_speedup_without_decode", "finetune_epoch_over_ceiling"):
        assert data["ratios"][key] > 0
    assert data["peak_rss_mb"] > 0
    assert {v["status"] for v in data["verdicts"]} <= {"PASS", "MISS", "INFO"}
    assert len(data["verdicts"]) == 3  # no demo in --quick, no GPU here


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
    from reportgen.bench import _seed_summary

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
