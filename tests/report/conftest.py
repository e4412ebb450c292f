"""Shared fixtures: a fresh copy of the fixed results store, and one rendered report per session."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STORE = FIXTURES / "store"


def load_make_store():
    """tests/fixtures/make_store.py as a module (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_store", FIXTURES / "make_store.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store_copy(tmp_path: Path) -> Path:
    """A private copy of the fixture store (render writes analysis/ and report files into it)."""
    return Path(shutil.copytree(STORE, tmp_path / "store"))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> dict:
    """The fixture store rendered once to HTML in both languages."""
    from reportgen.report import render_report

    run = Path(shutil.copytree(STORE, tmp_path_factory.mktemp("rendered") / "store"))
    written = render_report(run, lang="both")
    return {"run": run, "written": written, "zh": written["html:zh-TW"].read_text(encoding="utf-8"),
            "en": written["html:en"].read_text(encoding="utf-8")}


@pytest.fixture(scope="session")
def make_store():
    return load_make_store().make_store
