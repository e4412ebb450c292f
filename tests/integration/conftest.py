"""One tiny trained store, shared by every store-tampering test (trained once per session)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import tomllib

from tests.tinyexp import tiny_experiment


def store_toml(folder: Path, output_dir: Path, *, train: str = "", experiment: str = "", backbone: str = "",
               dataset: str = "", name: str = "tiny.toml") -> Path:
    """The experiment of the shared store (PneumoniaMNIST, 160 train images, smallcnn from scratch, 28 px,
    1 epoch); the keyword arguments are TOML lines that set keys of a section, e.g. to make one value bad."""
    return tiny_experiment(folder, file=name, output_dir=output_dir, strategies=["scratch"],
                           experiment=tomllib.loads(experiment), dataset=tomllib.loads(dataset),
                           backbone={"name": "smallcnn", "weights": "none", "input_size": 28, **tomllib.loads(backbone)},
                           train_base={}, train={"batch_size": 32, "epochs": 1, "scheduler": "none",
                                                 "selection_metric": "val_auc", **tomllib.loads(train)})


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links included, not followed) → a hash of its bytes (or link target)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = "link:" + str(p.readlink())
        elif p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<tmp>/runs/tiny``: one finished cell trained by the real runner (a few seconds)."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    base = tmp_path_factory.mktemp("trained")
    toml = store_toml(base, base / "runs")
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    assert result.exit_code == 0, result.output
    return base / "runs" / "tiny"


@pytest.fixture
def store_copy(trained_store: Path, tmp_path: Path) -> Path:
    """A private copy of the trained store at ``<tmp_path>/runs/tiny`` (tests may tamper with it)."""
    dst = tmp_path / "runs" / "tiny"
    shutil.copytree(trained_store, dst, symlinks=True)
    return dst
