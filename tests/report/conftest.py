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


MLP_NO_WEIGHTS = """
[[backbones]]
name = "mlp"
weights = "none"
input_size = 32
"""


@pytest.fixture(scope="session")
def mixed_store(tmp_path_factory) -> Path:
    """Written by the real runner: EfficientNet-Lite0 (pretrained) × fine-tune/frozen/scratch plus an MLP with
    ``weights = "none"`` (only scratch applies to it), one seed. Never modify it; copy it."""
    from realstore import build_store

    return build_store(tmp_path_factory.mktemp("mixed-store"), name="mixed", seeds="[0]", extra=MLP_NO_WEIGHTS)


@pytest.fixture(scope="session")
def mixed_pdf(mixed_store: Path, tmp_path_factory) -> dict:
    """The mixed store rendered once, HTML and PDF, both languages: {lang: {"html": text, "pdf": path}}."""
    from reportgen.report import render_report

    run = Path(shutil.copytree(mixed_store, tmp_path_factory.mktemp("mixed-pdf") / "store"))
    written = render_report(run, lang="both", pdf=True)
    return {lg: {"html": written[f"html:{lg}"].read_text(encoding="utf-8"), "pdf": written[f"pdf:{lg}"]}
            for lg in ("en", "zh-TW")}
