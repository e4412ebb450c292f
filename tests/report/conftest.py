"""Report fixtures: the real store (tests/conftest.py) rendered once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def rendered(real_store: Path, tmp_path_factory) -> dict:
    """The real store rendered once to HTML in both languages."""
    from reportgen.report import render_report

    run = Path(shutil.copytree(real_store, tmp_path_factory.mktemp("rendered") / "store"))
    written = render_report(run, lang="both")
    return {"run": run, "written": written, "zh": written["html:zh-TW"].read_text(encoding="utf-8"),
            "en": written["html:en"].read_text(encoding="utf-8")}
