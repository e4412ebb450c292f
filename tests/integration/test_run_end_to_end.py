"""`reportgen run` end to end on real data: the store it writes, metrics recomputed from it, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reportgen import store
from reportgen.cli import cli
from reportgen.describe import metrics
from tests.conftest import ROOT, tiny_npz_experiment, write_toml

CELL_FILES = ("cell.json", "env.json", "data.json", "arch.json", "epochs.csv", "predictions_val.csv",
              "predictions_test.csv", "metrics.json", "result.json")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("e2e")
    os.environ["REPORTGEN_CACHE_DIR"] = str(tmp / "cache")
    toml = tiny_npz_experiment(tmp, n_train=200)
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.count("test acc") == 3
    return tmp / "runs" / "tiny"


def test_one_folder_per_cell_with_every_file(tiny_run: Path) -> None:
    run = store.load_run(tiny_run)
    assert len(run.cells) == 3 and not run.missing
    assert {c.cell.strategy for c in run.cells} == {"finetune", "frozen", "scratch"}
    for c in run.cells:
        for f in CELL_FILES:
            assert (c.path / f).is_file(), f
        assert len(c.epochs) == 2
        assert c.env.torch and c.env.device == "cpu"
        assert c.arch.params_total > 3_000_000 and c.arch.macs > 0 and c.arch.macs_tool == "fvcore"
    frozen = next(c for c in run.cells if c.cell.strategy == "frozen")
    assert frozen.arch.params_trainable == 1280 * 2 + 2
    assert frozen.result.frozen_bn_drift == 0.0 and frozen.result.frozen_mode == "cached_features"
    facts = json.loads((tiny_run / "datasets" / "pnm.json").read_text())
    assert facts["splits"]["test"]["counts"] == [234, 390]
    assert "exact" in facts["duplicates"]


def test_metrics_recomputed_from_saved_predictions_match(tiny_run: Path) -> None:
    """Issue 3: every metric can be recomputed from the saved per-sample probabilities."""
    for c in store.load_run(tiny_run).cells:
        test, val = c.predictions("test"), c.predictions("val")
        labels, probs, vl, vp = test.labels, test.probs, val.labels, val.probs
        assert probs.shape == (624, 2) and np.allclose(probs.sum(1), 1, atol=1e-12)
        thr = metrics.youden_threshold(vl, vp[:, 1])
        again = metrics.summarize(labels, probs, class_names=["normal", "pneumonia"], threshold=thr,
                                  seed=c.cell.seed)
        logged = c.metrics.test.model_dump()
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auc", "ece"):
            assert again[key] == pytest.approx(logged[key], abs=1e-12), key
        assert again["confusion_matrix"] == logged["confusion_matrix"]
        assert c.result.test["accuracy"] == logged["accuracy"]
        # the last epoch's val log and the saved val predictions agree when the best epoch is the last
        if c.result.best_epoch == c.result.epochs_run:
            assert c.epochs[-1].val_acc == pytest.approx(float((vp.argmax(1) == vl).mean()), abs=1e-9)


def test_rerun_keeps_finished_cells(tiny_run: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in tiny_run.glob("cells/*/result.json")}
    toml = tiny_run.parents[1] / "tiny.toml"
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress"])
    assert result.exit_code == 0
    assert result.output.count("already finished") == 3
    assert {p: p.stat().st_mtime_ns for p in tiny_run.glob("cells/*/result.json")} == before


def test_render_reads_the_real_store(tiny_run: Path) -> None:
    result = CliRunner().invoke(cli, ["render", str(tiny_run), "--lang", "en"])
    assert result.exit_code == 0, result.output
    html = (tiny_run / "report.html").read_text()
    acc = store.read_json(next(tiny_run.glob("cells/*frozen*/metrics.json")))["test"]["accuracy"]
    assert f"{acc * 100:.1f}" in html


def test_image_folder_path_on_real_kermany_jpegs(tmp_path: Path, kermany_tar: Path) -> None:
    """The Kermany folder layout with real JPEGs: train/val carved from the 624 test images."""
    with tarfile.open(kermany_tar) as tar:
        tar.extractall(tmp_path / "raw", filter="data")
    src = next((tmp_path / "raw").rglob("test"))
    root = tmp_path / "chest_xray"
    for cls in ("NORMAL", "PNEUMONIA"):
        files = sorted((src / cls).glob("*.jp*g"))
        for i, f in enumerate(files):
            split = "test" if i % 4 == 0 else "train"  # 25 % test, the rest train (val carved by reportgen)
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            os.link(f, root / split / cls / f.name)
    (root / "val" / "NORMAL").mkdir(parents=True)
    (root / "val" / "PNEUMONIA").mkdir(parents=True)
    for cls in ("NORMAL", "PNEUMONIA"):  # Kermany's famous tiny val set
        for f in sorted((root / "train" / cls).iterdir())[:8]:
            os.replace(f, root / "val" / cls / f.name)
    toml = write_toml(tmp_path / "k.toml", f"""
        [experiment]
        name = "k"
        output_dir = "{tmp_path / 'runs'}"
        strategies = ["frozen"]

        [[datasets]]
        name = "kermany"
        kind = "folder"
        path = "{root}"

        [[backbones]]
        name = "efficientnet_lite0"
        weights = "offline"
        input_size = 64

        [train]
        epochs = 5
        lr = 3e-3
        batch_size = 32
        selection_metric = "val_auc"
        """)
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress"])
    assert result.exit_code == 0, result.output
    cell = store.load_run(tmp_path / "runs" / "k").cells[0]
    assert cell.data.classes == ["NORMAL", "PNEUMONIA"] and cell.data.color == "gray"
    assert cell.data.val_carved["original_val_n"] == 16
    assert cell.data.val_split.source == "carved" and cell.data.val_split.n > 16
    assert cell.data.splits["test"].counts == [59, 98]
    assert sum(s.n for s in cell.data.splits.values()) == 624
    assert cell.metrics.test.auc > 0.8
    # Each stored prediction names its image, relative to the dataset root.
    ids = cell.predictions("test").sample_id
    assert all(i.startswith(("test/NORMAL/", "test/PNEUMONIA/")) for i in ids) and (root / ids[0]).is_file()
    assert all(i.startswith(("train/", "val/")) for i in cell.predictions("val").sample_id)


def _cell_in_training(run_dir: Path) -> tuple[Path, int] | None:
    """A cell with at least one finished epoch in epochs.csv and no result.json yet."""
    for csv in run_dir.glob("cells/*/epochs.csv"):
        if not (csv.parent / "result.json").exists():
            rows = len(store.read_csv(csv))
            if rows >= 1:
                return csv.parent, rows
    return None


@pytest.mark.skipif(sys.platform != "linux", reason="uses SIGKILL semantics")
def test_kill_9_mid_cell_then_resume_from_last_epoch(tmp_path: Path) -> None:
    # Two cheap cells (a small CNN, two seeds, 4 epochs): killed -9 after an epoch of one of them.
    toml = tiny_npz_experiment(tmp_path, strategies='["scratch"]', backbone="smallcnn", weights="none",
                               n_train=2000, size=28)
    toml.write_text(toml.read_text().replace('strategies = ["scratch"]', 'strategies = ["scratch"]\nseeds = [0, 1]')
                    .replace("epochs = 2", "epochs = 4"))
    env = {**os.environ, "REPORTGEN_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "reportgen.cli", "run", str(toml), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    run_dir = tmp_path / "runs" / "tiny"
    deadline = time.time() + 400
    found = None
    while time.time() < deadline and found is None and proc.poll() is None:
        found = _cell_in_training(run_dir)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert found is not None, "no cell was caught between epochs"
    cell_dir, rows_seen = found
    assert not (cell_dir / "result.json").exists()
    rows_at_kill = len(store.read_csv(cell_dir / "epochs.csv"))
    assert (cell_dir / "checkpoint.pt").is_file()
    finished = {p.parent.name: p.read_bytes() for p in run_dir.glob("cells/*/result.json")}
    for p in run_dir.rglob("*"):  # nothing half-written, even in the interrupted cell
        if p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".csv":
            store.read_csv(p)
    st = CliRunner().invoke(cli, ["status", str(run_dir), "--json"])
    killed = next(c for c in json.loads(st.output) if c["cell_id"] == cell_dir.name)
    assert killed["state"] == "pending" and killed["resumable"] and killed["last_epoch"] == rows_at_kill

    out = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("already finished") == len(finished)
    for name, data in finished.items():
        assert (run_dir / "cells" / name / "result.json").read_bytes() == data
    result = store.read_json(cell_dir / "result.json")
    assert result["resumed_from_epoch"] >= rows_at_kill >= rows_seen >= 1  # the checkpoint is never older
    assert result["epochs_run"] == 4
    assert [int(r["epoch"]) for r in store.read_csv(cell_dir / "epochs.csv")] == [1, 2, 3, 4]
    run = store.load_run(run_dir)
    assert len(run.cells) == 2 and not run.missing
    assert not list(run_dir.rglob("*.tmp")) and not list(run_dir.rglob("checkpoint.pt"))
