"""`plan` projects timed batches onto each cell: the arithmetic, and the command on a tiny matrix."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.config import load_experiment
from reportgen.config.matrix import build_cells
from reportgen.train.plan import Timing, duration, needs, project
from tests.tinyexp import tiny_experiment


def _exp(tmp_path: Path, strategies: str = '["finetune", "frozen", "scratch", "warmup"]') -> Path:
    return tiny_experiment(tmp_path, file="p.toml", name="p", strategies=strategies, report=None, train_base={},
                           train={"epochs": 4, "batch_size": 32, "warmup_frozen_epochs": 1})


def test_projection_counts_batches_epochs_and_stages(tmp_path: Path) -> None:
    cells = {c.strategy: c for c in build_cells(load_experiment(_exp(tmp_path)))[0]}
    assert needs(cells["finetune"]) == needs(cells["scratch"]) == {"full"}
    assert needs(cells["frozen"]) == {"head"} and needs(cells["warmup"]) == {"frozen", "full"}
    t = Timing(step={True: 0.5, False: 2.0}, eval_image=0.01, head_step=0.1, build=1.0, score=0.5, cam=0.5, batches=2)
    n = {"train": 100, "val": 20, "test": 30}  # 4 batches of 32 per epoch
    ft = project(cells["finetune"], t, n)
    assert ft["train_s"] == 4 * 4 * 2.0 and ft["val_s"] == 4 * 20 * 0.01 and ft["final_s"] == 50 * 0.01
    assert ft["overhead_s"] == 2.0 and ft["total_s"] == sum(ft[k] for k in ("train_s", "val_s", "final_s",
                                                                                "overhead_s"))
    wu = project(cells["warmup"], t, n)
    assert wu["train_s"] == 4 * (1 * 0.5 + 3 * 2.0)
    fr = project(cells["frozen"], t, n)  # one backbone pass over every image, then head epochs
    assert abs(fr["train_s"] - (150 * 0.01 + 4 * 4 * 0.1)) < 1e-9


def test_duration_reads_like_a_person_writes_it() -> None:
    assert duration(42) == "42 s" and duration(165) == "2 min 45 s" and duration(3725) == "1 h 02 min"


def test_plan_prints_each_cell_and_the_total(tmp_path: Path) -> None:
    toml = _exp(tmp_path, '["scratch"]')
    toml.write_text(toml.read_text().replace('"efficientnet_lite0"', '"smallcnn"').replace('"offline"', '"none"'))
    result = CliRunner().invoke(cli, ["plan", str(toml)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(ln for ln in lines if "smallcnn" in ln)
    assert re.search(r"\d+ s\s*$", row)  # the cell's own estimate
    total = next(ln for ln in lines if ln.startswith("1 cell, ≈ "))
    assert "timed: 2 real batches" in total and re.search(r"≈ (\d+ min )?\d+ s on cpu", total)
