"""`make demo` renders `runs/demo`, a relative folder: every temp path that becomes a URI must be absolute."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reportgen.report.render import render_report


@pytest.mark.pdf
def test_render_pdf_from_a_relative_run_folder(real_store: Path, tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(real_store, tmp_path / "runs" / "demo", symlinks=True)
    monkeypatch.chdir(tmp_path)
    written = render_report(Path("runs/demo"), lang="en", pdf=True)
    pdf = Path(written["pdf:en"])
    assert pdf.read_bytes().startswith(b"%PDF")
    assert not (tmp_path / "runs" / "demo" / ".render-tmp").exists() or not any(
        (tmp_path / "runs" / "demo" / ".render-tmp").iterdir())
