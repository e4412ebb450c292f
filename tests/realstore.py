"""Stores written by the real runner for tests (tiny, real PneumoniaMNIST images).

Report and check tests read stores the real runner wrote, built once per pytest session (``real_store`` in
conftest.py) and copied per test; hand-made stores appear only in malformed-store tests.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_NPZ = ROOT / "data" / "pneumoniamnist.npz"


def write_toml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


REPORT = """
[report]
title = "Transfer learning for pneumonia detection"
course = "Deep Learning Lab"
author = "Test Student"
student_id = "112000123"
date = "2026-11-25"
language = "both"

[report.notes]
discussion = "The **scratch** baseline needs more epochs. <b>not bold</b>"
"""


def build_store(root: Path, *, name: str = "real", strategies: str = '["finetune", "frozen", "scratch"]',
                seeds: str = "[0, 1]", size: int = 32, n_train: int = 160, epochs: int = 2, extra: str = "",
                dataset_extra: str = "") -> Path:
    """Train a tiny matrix with the real runner and return its run folder."""
    root.mkdir(parents=True, exist_ok=True)
    toml = write_toml(root / f"{name}.toml", f"""
        [experiment]
        name = "{name}"
        output_dir = "{root / 'runs'}"
        strategies = {strategies}
        seeds = {seeds}
        """ + REPORT + f"""
        [[datasets]]
        name = "pneumoniamnist"
        kind = "npz"
        path = "{DEMO_NPZ}"
        classes = ["normal", "pneumonia"]
        max_train_samples = {n_train}
        {dataset_extra}

        [[backbones]]
        name = "efficientnet_lite0"
        weights = "offline"
        input_size = {size}
        reason = "small and pretrained offline"

        [train]
        optimizer = "adamw"
        lr = 1e-3
        batch_size = 32
        epochs = {epochs}
        scheduler = "none"
        selection_metric = "val_auc"
        """ + extra)
    from click.testing import CliRunner

    from reportgen.cli import cli

    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    assert result.exit_code == 0, result.output
    return root / "runs" / name


