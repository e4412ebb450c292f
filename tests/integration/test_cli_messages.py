"""Messages that used to mislead, and the CLI's last line of defence."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from tests.integration.test_bad_input import experiment, folder


def test_utf8_bom_in_the_experiment_file_is_accepted(tmp_path: Path) -> None:
    toml = experiment(tmp_path, folder(tmp_path))
    toml.write_bytes(b"\xef\xbb\xbf" + toml.read_bytes())
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok:")


def test_utf8_bom_in_a_csv_list_is_accepted(tmp_path: Path) -> None:
    from tests.integration.test_bad_input import csv_dataset

    toml = experiment(tmp_path, csv_dataset(tmp_path))
    rows = "image,label\n" + "".join(f"train/NORMAL/{i}.png,{i % 2}\n" for i in range(6))
    (tmp_path / "train.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["mlp", "smallcnn"])
def test_inspect_baselines_listed_by_inspect_list(name: str) -> None:
    listed = CliRunner().invoke(cli, ["inspect", "--list"]).output.split()
    assert name in listed
    result = CliRunner().invoke(cli, ["inspect", name, "--size", "28"])
    assert result.exit_code == 0, result.output
    assert "params total" in result.output and "unknown backbone" not in result.output


def test_inspect_fixed_size_backbone_names_the_size_it_takes() -> None:
    result = CliRunner().invoke(cli, ["inspect", "vit_b_16", "--size", "64"])
    assert result.exit_code == 2
    assert "None" not in result.output
    assert "exactly 224" in result.output and "--size" in result.output


@pytest.mark.parametrize("size", ["100000", "0", "-5"])
def test_inspect_absurd_size_is_a_usage_error(size: str) -> None:
    result = CliRunner().invoke(cli, ["inspect", "resnet18", "--size", size])
    assert result.exit_code == 2
    assert "--size" in result.output and "Traceback" not in result.output


def test_inspect_unknown_backbone(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", "resnet181"])
    assert result.exit_code == 2
    assert 'unknown backbone "resnet181"' in result.output and "resnet18" in result.output


@pytest.mark.parametrize("exc", [PermissionError(13, "Permission denied", "/data/x.npz"),
                                 UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")])
def test_unexpected_file_errors_become_one_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   exc: Exception) -> None:
    import reportgen.config

    def boom(path):
        raise exc

    monkeypatch.setattr(reportgen.config, "load_experiment", boom)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "x.toml")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    if isinstance(exc, OSError):
        assert "/data/x.npz" in result.output and "Permission denied" in result.output
    else:
        assert "UTF-8" in result.output
