"""Validity checks on a tiny fake results store (no torch: checks run at render time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen import checks
from reportgen.i18n import LANGS, placeholders
from reportgen.store import load_run, write_csv, write_json

EPOCH_COLS = ["epoch", "stage", "train_loss", "train_acc", "train_macro_f1", "val_loss", "val_acc",
              "val_macro_f1", "val_auc", "lr", "seconds", "peak_mem_mb"]
I18N = Path(checks.__file__).parent / "i18n"


def _facts(name: str, val_n: int = 500, dups: dict | None = None) -> dict:
    return {"name": name, "classes": ["normal", "pneumonia"],
            "splits": {"train": {"n": 1000, "counts": [500, 500]},
                       "val": {"n": val_n, "counts": [val_n // 2, val_n - val_n // 2]},
                       "test": {"n": 600, "counts": [300, 300]}},
            "val_carved": None, "duplicates": dups or {"exact": [], "near": [], "counts": {}}}


def _write_cell(root: Path, cid: str, dataset: str, *, strategy: str = "finetune", best: int = 3,
                epochs: int = 5, train_acc: float = 0.85, test_acc: float = 0.82, drift: float | None = 0.0,
                arch: dict | None = None) -> None:
    cdir = root / "cells" / cid
    write_json(cdir / "cell.json", {"id": cid, "dataset": dataset, "backbone": "resnet18",
                                    "strategy": strategy, "seed": 0, "input_size": 64})
    write_json(cdir / "env.json", {})
    write_json(cdir / "data.json", {})
    write_json(cdir / "arch.json", arch or {"macs": 1.0e8, "macs_torchinfo": 0.99e8, "input_size": [64, 64],
                                            "macs_at_224_vs_meta": 1.003, "imagenet": {"gflops": 1.814}})
    rows = [[e, "finetune", 0.5, train_acc if e == best else 0.7, 0.7, 0.5, 0.8, 0.8, 0.9, 1e-3, 1.0, ""]
            for e in range(1, epochs + 1)]
    write_csv(cdir / "epochs.csv", EPOCH_COLS, rows)
    write_json(cdir / "metrics.json", {"val": {}, "test": {"accuracy": test_acc}})
    write_json(cdir / "result.json", {"status": "done", "cell_id": cid, "best_epoch": best, "epochs_run": epochs,
                                      "stopped_early": False, "selection_metric": "val_auc",
                                      "frozen_bn_drift": drift, "frozen_mode": None,
                                      "test": {"accuracy": test_acc, "macro_f1": test_acc}})


def _run(tmp_path: Path, datasets: dict[str, dict], cells: list[dict]) -> checks.RunResults:
    write_json(tmp_path / "run.json", {"schema": 1, "name": "t", "cells": [c["cid"] for c in cells]})
    for name, facts in datasets.items():
        write_json(tmp_path / "datasets" / f"{name}.json", facts)
    for c in cells:
        _write_cell(tmp_path, **c)
    return load_run(tmp_path)


def _ids(findings: list[dict]) -> dict[str, str]:
    return {f["id"]: f["severity"] for f in findings}


def test_clean_cell_has_no_findings(tmp_path):
    run = _run(tmp_path, {"clean": _facts("clean")}, [{"cid": "c0", "dataset": "clean"}])
    assert checks.run_checks(run) == []


def test_sixteen_image_validation_set_is_high(tmp_path):
    run = _run(tmp_path, {"kermany": _facts("kermany", val_n=16)}, [{"cid": "c0", "dataset": "kermany"}])
    (f,) = [f for f in checks.run_checks(run) if f["id"] == "small_val"]
    assert f["severity"] == "high" and f["evidence"] == {"n": 16, "resolution": 1 / 16}
    assert "6.25%" in checks.describe(f, "en")["detail"]
    assert "16 張" in checks.describe(f, "zh-TW")["detail"]
    assert _ids(checks.dataset_findings_from_facts(_facts("x", val_n=60))) == {"small_val": "warning"}


def test_unfrozen_batchnorm_is_high(tmp_path):
    run = _run(tmp_path, {"d": _facts("d")}, [{"cid": "f0", "dataset": "d", "strategy": "frozen", "drift": 0.03}])
    (f,) = checks.run_checks(run)
    assert (f["id"], f["severity"], f["evidence"]["drift"]) == ("frozen_bn_drift", "high", 0.03)
    assert f["scope"] == {"dataset": "d", "cell_id": "f0", "backbone": "resnet18", "strategy": "frozen"}
    assert "0.03" in checks.describe(f, "en")["detail"]


def test_planted_duplicates_are_flagged(tmp_path):
    dups = {"exact": [{"a": ["train", 12], "b": ["test", 40]}],
            "near": [{"a": ["train", 3], "b": ["val", 4], "distance": 2}],
            "method": "sha1 + 64-bit DCT pHash, Hamming ≤ 4", "counts": {"exact": 1, "near": 1}}
    run = _run(tmp_path, {"d": _facts("d", dups=dups)}, [{"cid": "c0", "dataset": "d"}])
    found = checks.run_checks(run)
    assert _ids(found) == {"duplicates_exact": "high", "duplicates_near": "info"}
    exact = found[0]
    assert exact["evidence"]["count"] == 1 and exact["evidence"]["pairs"] == "train–test 1"
    assert "train #12 ~ test #40" in checks.describe(exact, "zh-TW")["detail"]


def test_best_epoch_last_and_first(tmp_path):
    run = _run(tmp_path, {"d": _facts("d")}, [
        {"cid": "last", "dataset": "d", "best": 5, "epochs": 5},
        {"cid": "first", "dataset": "d", "best": 1, "epochs": 5},
        {"cid": "short", "dataset": "d", "best": 2, "epochs": 2},  # too few epochs to judge
    ])
    found = {f["scope"]["cell_id"]: f["id"] for f in checks.run_checks(run)}
    assert found == {"last": "best_epoch_last", "first": "best_epoch_first"}


def test_imbalance_and_majority_baseline(tmp_path):
    facts = _facts("dr")
    facts["splits"]["train"]["counts"] = [735, 265]
    facts["splits"]["test"]["counts"] = [420, 180]
    run = _run(tmp_path, {"dr": facts}, [{"cid": "c0", "dataset": "dr", "train_acc": 0.75, "test_acc": 0.71}])
    found = checks.run_checks(run)
    assert [f["id"] for f in found] == ["near_majority_baseline", "class_imbalance"]
    ev = found[1]["evidence"]
    assert ev["share"] == pytest.approx(0.735) and ev["baseline_acc"] == pytest.approx(0.7)
    assert ev["baseline_macro_f1"] == pytest.approx(2 * 0.7 / 1.7 / 2)  # F1 of the majority class / 2 classes
    assert found[0]["evidence"]["margin_pts"] == pytest.approx(1.0)


def test_train_test_gap(tmp_path):
    run = _run(tmp_path, {"d": _facts("d")}, [{"cid": "c0", "dataset": "d", "train_acc": 0.99, "test_acc": 0.8}])
    (f,) = checks.run_checks(run)
    assert f["id"] == "train_test_gap" and f["evidence"]["gap_pts"] == pytest.approx(19.0)


def test_mac_disagreements_reported_once_per_backbone(tmp_path):
    arch = {"macs": 3.66e8, "macs_torchinfo": 0.51e8, "input_size": [64, 64], "macs_at_224_vs_meta": 0.64,
            "macs_unsupported_ops": {"aten::scaled_dot_product_attention": 12},
            "imagenet": {"name": "ViT_B_16_Weights.IMAGENET1K_V1", "gflops": 17.564}}
    run = _run(tmp_path, {"d": _facts("d")}, [{"cid": f"c{i}", "dataset": "d", "arch": arch} for i in range(3)])
    found = checks.run_checks(run)
    assert _ids(found) == {"macs_vs_meta": "warning", "macs_tools_disagree": "info"}
    assert len(found) == 2
    assert found[1]["evidence"]["low_tool"] == "torchinfo"
    assert "torchinfo" in checks.describe(found[1], "zh-TW")["detail"]


def test_findings_sorted_by_severity(tmp_path):
    run = _run(tmp_path, {"d": _facts("d", val_n=50)}, [{"cid": "c0", "dataset": "d", "drift": 0.1, "best": 1}])
    assert [f["severity"] for f in checks.run_checks(run)] == ["high", "warning", "warning"]


def test_every_finding_describes_in_both_languages(tmp_path):
    arch = {"macs": 3.66e8, "macs_torchinfo": 0.51e8, "input_size": [64, 64], "macs_at_224_vs_meta": 0.5,
            "imagenet": {"name": "w", "gflops": 1.0}}
    dups = {"exact": [{"a": ["train", 1], "b": ["val", 2]}], "near": [{"a": ["val", 1], "b": ["test", 2]}]}
    facts = _facts("d", val_n=10, dups=dups)
    facts["splits"]["train"]["counts"] = [900, 100]
    run = _run(tmp_path, {"d": facts}, [
        {"cid": "a", "dataset": "d", "best": 5, "drift": 1e-4, "arch": arch, "train_acc": 0.99, "test_acc": 0.5},
        {"cid": "b", "dataset": "d", "best": 1}])
    found = checks.run_checks(run)
    ids = {f["id"] for f in found}
    assert len(ids) == 11, ids  # every check fired once in this store
    for f in found:
        for lang in LANGS:
            text = checks.describe(f, lang)
            assert all(text.values()) and "{" not in "".join(text.values())
    checks.save_findings(tmp_path, found)
    assert json.loads((tmp_path / "analysis" / "findings.json").read_text())["findings"] == found


def test_catalog_same_keys_and_placeholders():
    en = json.loads((I18N / "checks.en.json").read_text(encoding="utf-8"))
    zh = json.loads((I18N / "checks.zh-TW.json").read_text(encoding="utf-8"))
    assert en.keys() == zh.keys()
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key
    for check_id in ["small_val", "class_imbalance", "near_majority_baseline", "duplicates_exact",
                     "duplicates_near", "best_epoch_last", "best_epoch_first", "train_test_gap",
                     "frozen_bn_drift", "macs_vs_meta", "macs_tools_disagree"]:
        assert {f"checks.{check_id}.{p}" for p in ("title", "detail", "fix")} <= en.keys()


def test_checks_module_does_not_import_torch():
    code = "import sys, reportgen.checks; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
