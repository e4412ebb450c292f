"""One store, many readers and writers: two renders at once, render while a cell trains, and render's
temporary files (never left in $TMPDIR; a killed render's are removed by the next one)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reportgen import store
from tests.conftest import ROOT
from tests.integration.conftest import store_toml


def _render(run_dir: Path, *args: str, env: dict | None = None, lang: str = "en") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reportgen.cli", "render", str(run_dir), "--lang", lang, *args],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _complete(html: str) -> bool:
    return html.lstrip().lower().startswith("<!doctype html") and html.rstrip().endswith("</html>")


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_two_renders_at_once_write_complete_reports_never_a_torn_file(store_copy: Path) -> None:
    report = store_copy / "report.html"
    torn: list[int] = []
    stop = threading.Event()

    def watch() -> None:  # a reader (a browser reloading) sees the old file or a complete new one
        while not stop.is_set():
            try:
                text = report.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            if not _complete(text):
                torn.append(len(text))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        procs = [_render(store_copy), _render(store_copy)]
        outs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        stop.set()
        watcher.join()
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not torn
    (cell,) = store.load_run(store_copy).cells
    assert _complete(report.read_text(encoding="utf-8")) and cell.id in report.read_text(encoding="utf-8")
    assert not list(store_copy.rglob("*.tmp")) and not (store_copy / ".render-tmp").exists()


def test_render_during_training_reports_the_finished_cells_only(store_copy: Path) -> None:
    """A second cell in training (its real files, no result.json yet, planned in run.json): the report is
    made from the finished cell alone, and says the other is missing."""
    (done,) = [p for p in (store_copy / "cells").iterdir()]
    training = store_copy / "cells" / (done.name + "-b")
    shutil.copytree(done, training)
    (training / "result.json").unlink()  # what a cell looks like mid-training: every file but the last
    run_json = json.loads((store_copy / "run.json").read_text())
    run_json["cells"].append(training.name)
    (store_copy / "run.json").write_text(json.dumps(run_json))
    proc = _render(store_copy)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out
    html = (store_copy / "report.html").read_text(encoding="utf-8")
    assert done.name in html and training.name not in html.replace(done.name, "")
    run = store.load_run(store_copy)
    assert [c.id for c in run.cells] == [done.name] and run.missing == [training.name]


def test_render_pdf_leaves_nothing_in_tmpdir_and_cleans_up_after_a_killed_one(store_copy: Path, tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    host, dead = socket.gethostname().split(".")[0], _dead_pid()
    # What a render and a run killed with -9 leave: a render temp folder, an atomic-write temp file.
    stale_dir = store_copy / ".render-tmp" / f"{host}-{dead}-abc123"
    stale_dir.mkdir(parents=True)
    (stale_dir / "weasyprint-x1y2").write_bytes(b"font")
    cell = next((store_copy / "cells").iterdir())
    stale_tmp = cell / "explain" / f".test_0.png.{host}-{dead}.k3j4h5.tmp"
    stale_tmp.parent.mkdir(exist_ok=True)
    stale_tmp.write_bytes(b"half a png")
    # Both languages: the second PDF is laid out in a worker process, whose WeasyPrint font file was
    # left in $TMPDIR (the worker exits without running WeasyPrint's clean-up).
    proc = _render(store_copy, "--pdf", env={"TMPDIR": str(tmpdir)}, lang="both")
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out
    assert all(p.read_bytes().startswith(b"%PDF") for p in store_copy.glob("report*.pdf"))
    assert len(list(store_copy.glob("report*.pdf"))) == 2
    assert list(tmpdir.iterdir()) == []  # nothing in $TMPDIR: no weasyprint-*, no reportgen-font-*
    assert not stale_tmp.exists() and not (store_copy / ".render-tmp").exists()


def test_a_live_writers_temp_file_is_left_alone(store_copy: Path) -> None:
    host = socket.gethostname().split(".")[0]
    mine = next((store_copy / "cells").iterdir()) / f".x.json.{host}-{os.getpid()}.abcdef.tmp"
    mine.write_bytes(b"being written")
    assert store.clean_stale_temp_files(store_copy) == [] and mine.exists()


@pytest.mark.slow
def test_render_while_run_writes(tmp_path: Path) -> None:
    """Renders in a loop while a real two-cell run trains: every report holds exactly the cells finished
    when it loaded the store, and none is ever torn."""
    toml = store_toml(tmp_path, tmp_path / "runs", experiment="seeds = [0, 1]", train="epochs = 3")
    run_dir = tmp_path / "runs" / "tiny"
    run = subprocess.Popen([sys.executable, "-m", "reportgen.cli", "run", str(toml), "--no-progress"], cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        while run.poll() is None:
            before = {p.parent.name for p in run_dir.glob("cells/*/result.json")}
            proc = _render(run_dir)
            out = proc.communicate(timeout=600)[0]
            after = {p.parent.name for p in run_dir.glob("cells/*/result.json")}
            if not before:
                assert proc.returncode in (0, 2), out
                if proc.returncode == 2:
                    assert "no finished cell" in out or "run.json" in out
                    time.sleep(1)
                    continue
            assert proc.returncode == 0, out
            html = (run_dir / "report.html").read_text(encoding="utf-8")
            assert _complete(html)
            shown = {c for c in after | before if c in html}
            assert before <= shown <= after
            seen.append(len(shown))
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, run.stdout.read()
    assert seen, "no render finished while the run was training"
