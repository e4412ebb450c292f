"""Shared fixtures: real data from ../shared/data, tiny experiments, an isolated tensor cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("REPORTGEN_SHARED_DATA", ROOT.parent / "shared" / "data"))

# One definition of the demo data path and the TOML writer (tests/ is on sys.path as pytest's rootdir).
from realstore import DEMO_NPZ, KERMANY_TAR, build_multiclass_store, build_store, write_toml  # noqa: E402, F401
from tinyexp import tiny_experiment  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # One decoded-tensor cache per test session, never the user's ~/.cache.
    monkeypatch.setenv("REPORTGEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "tensor-cache"))


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    try:
        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
    except ImportError:
        pass


@pytest.fixture
def kermany_tar() -> Path:
    tar = SHARED_DATA / "kermany_chest_xray_224_test.tar"
    if not tar.is_file():
        pytest.skip(f"real Kermany JPEGs not found at {tar}")
    return tar


def tiny_npz_experiment(tmp_path: Path, *, backbone: str = "efficientnet_lite0", weights: str = "offline",
                        size: int = 32, n_train: int = 160, **over) -> Path:
    """A real-data experiment small enough for a unit test (PneumoniaMNIST, a few hundred images): the one tiny
    experiment of ``tinyexp`` with a shorthand for its backbone and train size; ``over`` as in ``tinyexp``."""
    return tiny_experiment(tmp_path, backbone={"name": backbone, "weights": weights, "input_size": size},
                           dataset={"max_train_samples": n_train, **over.pop("dataset", {})}, **over)


# --------------------------------------------------------------------------- stores written by the real runner


@pytest.fixture(scope="session")
def real_store(tmp_path_factory) -> Path:
    """Pristine: 3 strategies × 2 seeds of EfficientNet-Lite0 on 160 PneumoniaMNIST images. Never modify it."""
    return build_store(tmp_path_factory.mktemp("real-store"))


@pytest.fixture
def store_copy(real_store: Path, tmp_path: Path) -> Path:
    """A private copy of the real store (render writes analysis/, figures/ and reports into it)."""
    return Path(shutil.copytree(real_store, tmp_path / "store"))




@pytest.fixture(scope="session")
def real_multiclass_store(tmp_path_factory) -> Path:
    """Pristine: warm-up / frozen / scratch EfficientNet-Lite0 on 3-class real Kermany JPEGs (CSV lists,
    class-weighted loss, declared ordinal). Never modify it; copy it (``multiclass_copy``)."""
    if not KERMANY_TAR.is_file():
        pytest.skip(f"real Kermany JPEGs not found at {KERMANY_TAR}")
    return build_multiclass_store(tmp_path_factory.mktemp("real-multi"))


@pytest.fixture
def multiclass_copy(real_multiclass_store: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(real_multiclass_store, tmp_path / "multi"))
