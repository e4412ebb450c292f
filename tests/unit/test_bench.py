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
