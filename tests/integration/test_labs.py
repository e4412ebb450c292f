"""Acceptance for issue 11: each shipped lab TOML validates (but for its data), runs on tiny real data, and its
PDF shows every element the labs ask for."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner
from labs import KERMANY_TAR, LABS, stand_in_weights, tiny_lab_toml

from reportgen.cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("lab", LABS)
def test_lab_toml_fails_validate_only_for_its_missing_data(lab: str) -> None:
    result = CliRunner().invoke(cli, ["validate", str(ROOT / "experiments" / f"{lab}.toml")])
    assert result.exit_code == 2, result.output
    first = result.output.strip().splitlines()[0]
    assert "not found" in first and ("datasets[0].path" in first or "datasets[0].train_csv" in first), first


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("torch-home")
    stand_in_weights(home)
    return home


@pytest.fixture(scope="session")
def lab_runs(tmp_path_factory, torch_home) -> dict[str, Path]:
    """Each lab trained once per session (its declared matrix, on tiny real data) and rendered to PDF."""
    import os

    if not KERMANY_TAR.is_file():
        pytest.skip(f"real Kermany JPEGs not found at {KERMANY_TAR}")
    old = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(torch_home)
    runs = {}
    try:
        for lab in LABS:
            root = tmp_path_factory.mktemp(f"lab-{lab}")
            toml = tiny_lab_toml(lab, root)
            runner = CliRunner()
            ok = runner.invoke(cli, ["validate", str(toml)])
            assert ok.exit_code == 0, ok.output
            ran = runner.invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
            assert ran.exit_code == 0, ran.output
            run_dir = root / "runs" / tomllib.loads(toml.read_text())["experiment"]["name"]
            rendered = runner.invoke(cli, ["render", str(run_dir), "--pdf"])
            assert rendered.exit_code == 0, rendered.output
            runs[lab] = run_dir
    finally:
        if old is None:
            os.environ.pop("TORCH_HOME", None)
        else:
            os.environ["TORCH_HOME"] = old
    return runs


@pytest.mark.parametrize("lab", LABS)
def test_lab_runs_its_whole_matrix(lab: str, lab_runs: dict[str, Path]) -> None:
    run = lab_runs[lab]
    doc = tomllib.loads((ROOT / "experiments" / f"{lab}.toml").read_text(encoding="utf-8"))
    n = len(doc["backbones"]) * len(doc["experiment"]["strategies"]) * len(doc["experiment"].get("seeds", [0]))
    assert len(list(run.glob("cells/*/result.json"))) == n
    for name in ("report.pdf", "report.en.pdf", "report.html", "report.en.html"):
        assert (run / name).is_file(), name
