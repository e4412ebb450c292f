"""The typed config: torch-free parsing, one JSON form from the parser to the store, augment parsed once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.config import Augment, TrainConfig, load_experiment, parse_augment
from reportgen.config.matrix import build_cells
from reportgen.store.schema import ExperimentRecord, RunRecord

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.toml"))


def test_parsing_a_toml_imports_neither_torch_nor_torchvision_nor_data() -> None:
    """The demo and a lab TOML with an op pipeline (CLAHE, crops) parse in a fresh interpreter without torch,
    torchvision or reportgen.data (the config → data import cycle is gone)."""
    code = ("import json, sys\n"
            "from reportgen.config import load_experiment\n"
            "from reportgen.config.matrix import build_cells\n"
            "for f in sys.argv[1:]:\n"
            "    exp = load_experiment(f)\n"
            "    build_cells(exp)\n"
            "    assert exp.train_config(backbone=exp.backbones[0].name, strategy=exp.strategies[0]).augment.ops or f\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')\n"
            "                        or m.startswith('reportgen.data'))))\n")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "experiments" / "demo.toml"),
                          str(ROOT / "experiments" / "cxr4.toml")], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_train_defaults_hash_as_they_always_have() -> None:
    """Cell ids hash ``TrainConfig.to_dict()``: typing the config must not change one byte of it."""
    assert TrainConfig().to_dict() == {
        "optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "momentum": 0.9, "batch_size": 32, "epochs": 10,
        "scheduler": "cosine", "step_size": 5, "gamma": 0.1, "selection_metric": "val_macro_f1", "patience": 0,
        "loss": "ce", "label_smoothing": 0.0, "class_weighted_loss": False, "weighted_sampler": False,
        "augment": "none", "amp": "auto", "channels_last": True, "compile": False, "deterministic": False,
        "warmup_frozen_epochs": 2, "frozen_feature_cache": True, "eval_batch_size": None}
    ops = parse_augment([{"op": "resize", "size": 36}, {"op": "affine"}]).to_json()
    assert ops == [{"op": "resize", "size": 36},
                   {"op": "affine", "degrees": 10.0, "translate": 0.0, "scale": [1.0, 1.0], "p": 1.0}]


@pytest.mark.parametrize("toml", EXPERIMENTS, ids=lambda p: p.stem)
def test_the_store_reads_the_experiment_back_into_the_same_typed_objects(toml: Path) -> None:
    exp = load_experiment(toml)
    stored = json.loads(json.dumps(exp.to_dict()))  # as run.json holds it
    rec = ExperimentRecord.model_validate(stored)
    assert rec.to_dict() == stored
    assert rec.train == exp.train and rec.datasets == exp.datasets and rec.backbones == exp.backbones
    assert rec.report == exp.report and rec.overrides == exp.overrides
    assert isinstance(rec.train.augment, Augment)
    cell = build_cells(exp)[0][0]
    assert json.loads(json.dumps(cell.resolved(), default=str))["train"] == cell.train.to_dict()


def test_a_run_json_written_before_newer_keys_still_loads_with_their_defaults() -> None:
    stored = json.loads(json.dumps(load_experiment(ROOT / "experiments" / "demo.toml").to_dict()))
    for part, key in (("train", "eval_batch_size"), ("train", "frozen_feature_cache"), ("report", "checklist"),
                      ("report", "detail"), ("report", "candidates")):
        del stored[part][key]
    for k in ("benchmark", "size", "root", "group_column", "group_pattern", "intensity"):
        del stored["datasets"][0][k]
    del stored["backbones"][0]["stem"]
    run = RunRecord.model_validate({"schema_version": 3, "name": "x", "created_at": "", "source": "",
                                    "experiment": stored, "cells": [], "skipped": []})
    exp = run.experiment
    assert exp.train.eval_batch_size is None and exp.train.frozen_feature_cache is True
    assert exp.report.detail == "full" and exp.datasets[0].benchmark is None and exp.backbones[0].stem == "default"
    assert exp.get("report").get("language") == exp.report.language  # the report's dict-style readers


def test_a_stored_experiment_with_an_unknown_key_is_refused() -> None:
    stored = json.loads(json.dumps(load_experiment(ROOT / "experiments" / "demo.toml").to_dict()))
    stored["train"]["learning_rate"] = 0.1
    with pytest.raises(ValueError, match="learning_rate"):
        ExperimentRecord.model_validate(stored)


def test_one_eval_batch_size_rule() -> None:
    assert TrainConfig(batch_size=16).eval_batch == 64  # small training batches: evaluation takes at least 64
    assert TrainConfig(batch_size=128).eval_batch == 128
    assert TrainConfig(batch_size=128, eval_batch_size=8).eval_batch == 8
    # Written once: no other module restates the rule.
    pkg = ROOT / "reportgen"
    rule = re.compile(r"max\([^()]*(batch_size|\bbs)[^()]*,\s*64\)")
    restated = [p for p in [*pkg.rglob("*.py"), *(ROOT / "bench").glob("*.py")]
                if rule.search(p.read_text(encoding="utf-8")) and p.name != "types.py"]
    assert restated == []


def test_training_batches_use_the_parsed_ops_without_checking_them_again(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from reportgen.config import augment as augment_mod
    from reportgen.data.batches import Normalization, to_model_input

    aug = parse_augment([{"op": "hflip", "p": 1.0}, {"op": "gaussian_noise", "std": 0.01}])

    def no_recheck(*args: object) -> None:
        raise AssertionError("an op was checked again on a training batch")

    monkeypatch.setattr(augment_mod, "_op", no_recheck)
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    x[..., 0] = 255  # left column white: a flip moves it right
    norm = Normalization(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    out = to_model_input(x, norm, augment=aug, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 3, 8, 8) and float(out[..., -1].mean()) > 0.9 and float(out[..., 0].mean()) < 0.1
