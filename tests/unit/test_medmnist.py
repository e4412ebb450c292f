"""kind = "medmnist" (reportgen/data/medmnist.py): the package's file layout, official splits, fetch or a clear error."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.config import load_experiment
from reportgen.data import open_dataset
from reportgen.data.medmnist import file_name
from reportgen.errors import ConfigError, DataError
from tests.conftest import write_toml

SHARED_NPZ = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pneumoniamnist.npz"


@pytest.fixture
def npz() -> Path:
    if not SHARED_NPZ.is_file():
        pytest.skip(f"PneumoniaMNIST not found at {SHARED_NPZ}")
    return SHARED_NPZ


def toml(tmp_path: Path, root: Path, extra: str = "") -> Path:
    return write_toml(tmp_path / "m.toml", f"""
        [[datasets]]
        name = "pneumoniamnist"
        kind = "medmnist"
        root = "{root}"
        {extra}
        [[backbones]]
        name = "resnet18"
        """)


def test_file_names_follow_the_medmnist_package() -> None:
    # medmnist 3.x dataset.py: size_flag "" for 28 px, "_{size}" otherwise.
    assert file_name("pneumoniamnist", 28) == "pneumoniamnist.npz"
    assert file_name("retinamnist", 224) == "retinamnist_224.npz"


def test_official_splits_are_used_as_is_and_recorded(tmp_path: Path, npz: Path) -> None:
    root = tmp_path / "mm"
    root.mkdir()
    shutil.copy(npz, root / "pneumoniamnist.npz")
    spec = load_experiment(toml(tmp_path, root, "min_val_size = 1000")).datasets[0]
    assert (spec.kind, spec.name, spec.size) == ("medmnist", "pneumoniamnist", 28)
    ds = open_dataset(spec)
    facts = ds.facts()
    assert ds.classes == ["normal", "pneumonia"]
    assert {s: v["n"] for s, v in facts["splits"].items()} == {"train": 4708, "val": 524, "test": 624}
    assert facts["splits"]["test"]["counts"] == [234, 390]
    # Below min_val_size, yet never carved: the benchmark's split stays as published.
    vs = facts["val_split"]
    assert vs["source"] == "official" and vs["n"] == 524 and vs["small"] and "MedMNIST" in vs["reason"]
    assert facts["val_carved"] is None
    assert facts["medmnist"] == {"name": "pneumoniamnist", "size": 28, "file": "pneumoniamnist.npz",
                                 "splits": "official"}


def test_capitalised_name_reads_the_same_file(tmp_path: Path, npz: Path) -> None:
    root = tmp_path / "mm"
    root.mkdir()
    shutil.copy(npz, root / "pneumoniamnist.npz")
    t = write_toml(tmp_path / "cap.toml", f"""
        [[datasets]]
        name = "PneumoniaMNIST"
        kind = "medmnist"
        root = "{root}"
        [[backbones]]
        name = "resnet18"
        """)
    ds = open_dataset(load_experiment(t).datasets[0])
    assert ds.facts()["medmnist"]["name"] == "pneumoniamnist" and len(ds.source.splits["val"]) == 524


def test_missing_file_offline_is_exit_2_saying_where_to_put_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "medmnist", None)  # the package is not installed
    root = tmp_path / "empty"
    result = CliRunner().invoke(cli, ["validate", str(toml(tmp_path, root, "size = 64"))])
    assert result.exit_code == 2, result.output
    assert "pneumoniamnist_64.npz" in result.output and str(root) in result.output
    assert "Traceback" not in result.output


def test_missing_file_is_fetched_through_the_medmnist_package(tmp_path: Path, npz: Path, monkeypatch) -> None:
    calls = []

    class PneumoniaMNIST:  # the package's class, as medmnist 3.x calls it: (split, download, root, size)
        def __init__(self, *, split: str, download: bool, root: str, size: int) -> None:
            calls.append((split, download, root, size))
            shutil.copy(npz, Path(root) / file_name("pneumoniamnist", size))

    monkeypatch.setitem(sys.modules, "medmnist", types.SimpleNamespace(PneumoniaMNIST=PneumoniaMNIST))
    root = tmp_path / "fresh"
    ds = open_dataset(load_experiment(toml(tmp_path, root)).datasets[0])
    assert calls == [("test", True, str(root), 28)]
    assert len(ds.source.splits["test"]) == 624


def test_failed_fetch_and_wrong_size_are_clear_errors(tmp_path: Path, npz: Path, monkeypatch) -> None:
    class PneumoniaMNIST:
        def __init__(self, **kw) -> None:
            raise RuntimeError("Automatic download failed!")

    monkeypatch.setitem(sys.modules, "medmnist", types.SimpleNamespace(PneumoniaMNIST=PneumoniaMNIST))
    with pytest.raises(DataError, match="fetching it through the medmnist package failed") as e:
        open_dataset(load_experiment(toml(tmp_path, tmp_path / "r")).datasets[0])
    assert "put pneumoniamnist.npz in" in e.value.fix
    root = tmp_path / "wrong"
    root.mkdir()
    shutil.copy(npz, root / "pneumoniamnist_128.npz")  # the 28 px arrays under the 128 px name
    with pytest.raises(DataError, match="28×28 px, not 128"):
        open_dataset(load_experiment(toml(tmp_path, root, "size = 128")).datasets[0])


@pytest.mark.parametrize("name, extra, match", [
    ("chestmnist", "", "multi-label"),
    ("organmnist3d", "", "3D"),
    ("pneumonaimnist", "", 'did you mean "pneumoniamnist"'),
    ("pneumoniamnist", "size = 32", "28, 64, 128, 224"),
    ("pneumoniamnist", 'path = "x.npz"', "takes root"),
])
def test_config_errors(tmp_path: Path, name: str, extra: str, match: str) -> None:
    t = write_toml(tmp_path / "bad.toml", f"""
        [[datasets]]
        name = "{name}"
        kind = "medmnist"
        {extra}
        [[backbones]]
        name = "resnet18"
        """)
    with pytest.raises(ConfigError, match=match):
        load_experiment(t)
