"""A declared pipeline and a small stem through the real runner and into the rendered report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.data import pipeline
from reportgen.report import render_report
from tests.realstore import KERMANY_TAR, kermany_csv_lists, write_toml

AUGMENT = ('[{op = "clahe", clip_limit = 2.0, tile = 8}, {op = "resize", size = 40}, {op = "random_crop", size = 32}, '
           '{op = "hflip", p = 0.5}, {op = "vflip", p = 0.5}, '
           '{op = "affine", degrees = 10, translate = 0.05, scale = [0.95, 1.05]}, '
           '{op = "brightness_contrast", brightness = 0.1, contrast = 0.1}, {op = "gaussian_noise", std = 0.02}, '
           '{op = "center_crop", size = 32}]')


@pytest.fixture(scope="module")
def stem_run(tmp_path_factory) -> Path:
    """ResNet-18 with stem = "small" from scratch, 1 epoch, on 45 real Kermany JPEGs through the full pipeline."""
    if not KERMANY_TAR.is_file():
        pytest.skip(f"real Kermany JPEGs not found at {KERMANY_TAR}")
    root = tmp_path_factory.mktemp("pipeline-run")
    lists = kermany_csv_lists(root / "data", per_class=15)
    toml = write_toml(root / "p.toml", f"""
        [experiment]
        name = "p"
        output_dir = "{root / 'runs'}"
        strategies = ["scratch"]
        seeds = [0]

        [report]
        language = "both"

        [[datasets]]
        name = "kermany3"
        kind = "csv"
        train_csv = "{lists['train']}"
        test_csv = "{lists['test']}"
        image_root = "{lists['images']}"
        image_suffix = ".jpeg"
        classes = ["normal", "bacteria", "virus"]
        val_fraction = 0.2
        min_val_size = 5

        [[backbones]]
        name = "resnet18"
        weights = "none"
        input_size = 32
        stem = "small"

        [train]
        epochs = 1
        batch_size = 16
        scheduler = "none"
        augment = {AUGMENT}
        """)
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    assert result.exit_code == 0, result.output
    return root / "runs" / "p"


def test_the_store_records_the_exact_pipeline_and_the_stem(stem_run: Path) -> None:
    cell = next((stem_run / "cells").iterdir())
    data = json.loads((cell / "data.json").read_text(encoding="utf-8"))
    assert data["pipeline"] == pipeline.record(data["augment"], 32)
    assert [s["op"] for s in data["pipeline"]["eval"]] == ["clahe", "resize", "center_crop"]
    assert len(set(data["cache_keys"].values())) == 3
    arch = json.loads((cell / "arch.json").read_text(encoding="utf-8"))
    assert arch["stem"]["random_init"] == ["conv1"] and "maxpool → Identity" in arch["stem"]["changes"]
    result = json.loads((cell / "result.json").read_text(encoding="utf-8"))
    assert result["epochs_run"] == 1 and np.isfinite(result["test"]["accuracy"])


def test_the_report_prints_the_pipeline_per_split_in_both_languages(stem_run: Path) -> None:
    written = render_report(stem_run, lang="both")
    en = written["html:en"].read_text(encoding="utf-8")
    zh = written["html:zh-TW"].read_text(encoding="utf-8")
    for needle in ("Input pipeline of", "random crop 32×32 px", "centre crop 32×32 px", "CLAHE (clip limit 2, 8×8 tiles)",
                   "vertical flip, p = 0.5", "Gaussian noise, std 0.02", "validation / test", "each training batch",
                   "small-input stem", "randomly initialised"):
        assert needle in en, needle
    for needle in ("輸入處理流程", "隨機裁切 32×32 px", "中心裁切 32×32 px", "垂直翻轉，p = 0.5", "驗證集／測試集",
                   "隨機初始化"):
        assert needle in zh, needle
    # In order: the training rows list the random crop after the decode-time resize, val/test a centre crop instead.
    train_part = en[en.index("Input pipeline of"):en.index("validation / test")]
    assert train_part.index("resize to 40×40 px") < train_part.index("random crop 32×32 px")
    assert "centre crop" not in train_part
