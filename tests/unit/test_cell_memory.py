"""Per-cell peak memory: each cell's own, not the process's running maximum (which made every cell of an
inline run "cost" at least what the biggest earlier one did)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen import store
from reportgen.config import load_experiment
from reportgen.train.memory import PeakMemory
from reportgen.train.runner import run_experiment
from tests.tinyexp import tiny_experiment

CPU = torch.device("cpu")
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's high-water mark is Linux's")


def isolated(test):
    """Run the test in a fresh interpreter: resident-memory figures depend on what the process already holds
    (a suite that has grown to gigabytes reuses freed pages, so an allocation need not raise RSS)."""
    import functools
    import os
    import subprocess

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        if os.environ.get("REPORTGEN_MEMORY_CHILD"):
            return test(*args, **kwargs)
        here = Path(__file__).resolve()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "",
                               f"{here}::{test.__name__}"], cwd=here.parents[2], capture_output=True, text=True,
                              env={**os.environ, "REPORTGEN_MEMORY_CHILD": "1"}, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]

    return wrapper


def _cell(mb: int) -> tuple[float, str]:
    meter = PeakMemory(CPU)
    block = np.ones(mb * 2**20 // 8)  # touched: resident
    block[::512] += 1.0
    del block
    return meter.close(), meter.kind


@linux
@isolated
def test_three_cells_in_reverse_order_of_size_each_get_their_own_peak() -> None:
    (big, kind), (mid, _), (small, _) = _cell(240), _cell(80), _cell(8)
    assert kind == "cell_peak_rss"
    # The process's running maximum would give all three at least `big`.
    assert big - mid == pytest.approx(160, abs=40)
    assert mid - small == pytest.approx(72, abs=30)


@linux
@isolated
def test_epoch_segments_are_their_own_and_the_cell_keeps_the_highest() -> None:
    meter = PeakMemory(CPU)
    block = np.ones(120 * 2**20 // 8)
    del block
    first = meter.segment()
    second = meter.segment()
    assert first - second > 80 and meter.close() == pytest.approx(first, abs=1)


@isolated
def test_the_sampling_fallback_sees_a_peak_without_the_kernel_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    from reportgen.train import memory

    monkeypatch.setattr(memory, "_reset_hwm", lambda: False)
    meter = PeakMemory(CPU)
    assert meter.kind == "cell_sampled_rss"
    import time

    block = np.ones(100 * 2**20 // 8)
    time.sleep(0.1)  # the sampler looks every 10 ms
    del block
    peak = meter.close()
    assert peak - memory._rss_bytes() / 2**20 > 60


@pytest.mark.slow
@linux
def test_inline_run_of_three_cells_of_very_different_sizes_in_reverse_order(tmp_path: Path) -> None:
    """The acceptance case through the real runner: ResNet-50, then SmallCNN, then the MLP, in one process."""
    toml = tiny_experiment(tmp_path, file="mem.toml", name="mem", strategies=["scratch"], report=None,
                           dataset={"max_train_samples": 64},
                           backbones=[{"name": name, "weights": "none", "input_size": 32}
                                      for name in ("resnet50", "smallcnn", "mlp")],
                           train_base={}, train={"optimizer": "adamw", "batch_size": 32, "epochs": 1,
                                                 "scheduler": "none"})
    summary = run_experiment(load_experiment(toml))
    peaks = {}
    for cid in summary.trained:
        r = store.read_json(tmp_path / "runs" / "mem" / "cells" / cid / "result.json")
        assert r["peak_mem_kind"] == "cell_peak_rss"
        peaks[cid.split("-")[1]] = r["peak_mem_mb"]
    # ResNet-50's weights, gradients and Adam moments alone are ~400 MB; the later, smaller cells must not
    # inherit that figure.
    assert peaks["resnet50"] - peaks["smallcnn"] > 200
    assert peaks["smallcnn"] < peaks["resnet50"] and peaks["mlp"] < peaks["resnet50"]
