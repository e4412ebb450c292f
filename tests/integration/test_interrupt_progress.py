"""Ctrl-C says what was kept; a resumed cell says so when it starts; progress without a usable terminal."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from reportgen.train.progress import bars_fit, format_epoch, interrupted_message
from tests.tinyexp import tiny_experiment

ROOT = Path(__file__).resolve().parents[2]
ROW = {"epoch": 2, "stage": "frozen", "train_loss": 0.51234, "train_acc": 0.8, "train_macro_f1": 0.7,
       "val_loss": 0.6, "val_acc": 0.75, "val_macro_f1": 0.74, "val_auc": None, "lr": 0.001, "seconds": 3.21,
       "peak_mem_mb": 100.0}


def test_epoch_rows_are_formatted_with_the_recorded_stage() -> None:
    line = format_epoch(ROW, epochs=5)
    assert line.startswith("epoch 2/5 (frozen): train loss 0.5123 acc 0.800")
    assert "AUC n/a" in line and "{" not in line and "3.2 s" in line


def test_no_bars_on_a_pipe_or_a_zero_column_terminal() -> None:
    r, w = os.pipe()
    with os.fdopen(w, "w") as pipe:
        assert not bars_fit(pipe)
    os.close(r)
    master, slave = os.openpty()
    try:
        tty = os.fdopen(slave, "w")
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 0, 0, 0))  # 0 columns, as `script` reports
        assert not bars_fit(tty)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        assert bars_fit(tty)
        tty.close()
    finally:
        os.close(master)


def test_message_before_any_cell(tmp_path: Path) -> None:
    msg = interrupted_message(current=None, run_dir=tmp_path, finished=2)
    assert msg == "interrupted before any cell started training; 2 finished cells are kept; run the same command " \
                  "to start again"


def _toml(tmp_path: Path) -> Path:
    return tiny_experiment(tmp_path, file="ctrlc.toml", name="ctrlc", strategies=["scratch"],
                           report={"language": "en"}, dataset={"max_train_samples": 400},
                           backbone={"name": "smallcnn", "weights": None, "input_size": 28}, train_base={},
                           train={"epochs": 200, "batch_size": 32, "scheduler": "none"})


def _run_until(toml: Path, cell_dir_glob: Path, rows_needed: int, *, marker: str | None = None) -> tuple[int, str, str]:
    """`reportgen run`, then SIGINT once the cell's epochs.csv has ``rows_needed`` rows (after ``marker`` if given)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # A shell that started us in the background may ignore SIGINT; the child must get Python's handler.
    p = subprocess.Popen([sys.executable, "-m", "reportgen.cli", "run", str(toml)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        logs = list(cell_dir_glob.parent.glob(cell_dir_glob.name + "/epochs.csv"))
        if logs and len(logs[0].read_text().splitlines()) - 1 >= rows_needed:
            break
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


@pytest.mark.slow
def test_ctrl_c_names_the_epoch_and_what_is_saved_and_resume_says_so_at_start(tmp_path: Path) -> None:
    import torch

    toml = _toml(tmp_path)
    cells = tmp_path / "runs" / "ctrlc" / "cells" / "*"
    code, out, err = _run_until(toml, cells, 1)
    assert code == 130 and "Traceback" not in err and "Aborted" not in err
    m = re.search(r"interrupted in epoch (\d+) of cell 1/1 \((\S+)\); epoch (\d+) is saved; run the same command "
                  r"to resume", err)
    assert m, err
    ckpt = torch.load(tmp_path / "runs" / "ctrlc" / "cells" / m.group(2) / "checkpoint.pt", weights_only=False)
    assert int(m.group(3)) == ckpt["epoch"] and int(m.group(1)) == ckpt["epoch"] + 1
    # Without a terminal (a pipe here) every finished epoch was one formatted line.
    assert re.search(r"epoch 1/200 \(\w+\): train loss [\d.]+ acc [\d.]+ \| val loss", out), out

    saved = ckpt["epoch"]
    code, out, err = _run_until(toml, cells, saved + 1)
    first = out.splitlines()[0]
    assert f"resuming cell 1/1 from epoch {saved + 1} (epoch {saved} is saved)" in first, out
    assert code == 130 and "Traceback" not in err
