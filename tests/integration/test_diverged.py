"""A diverging cell (lr far too high) stops with one clear message, never with a NaN-based report."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reportgen.cli import cli
from tests.conftest import tiny_npz_experiment


def test_lr_1e6_stops_the_cell_with_a_clear_error(tmp_path: Path) -> None:
    toml = tiny_npz_experiment(tmp_path, strategies='["scratch"]', backbone="mlp", weights="none", size=28,
                               extra='\n[overrides.strategy.scratch]\noptimizer = "sgd"\nlr = 1e6\n')
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    assert "training diverged" in result.output and "epoch 1" in result.output and "lr 1000000.0" in result.output
    assert "lower [train].lr" in result.output
    assert not list((tmp_path / "runs" / "tiny" / "cells").glob("*/result.json"))  # no finished cell, no report
