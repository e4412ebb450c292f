"""Validity checks: hand-computed cases on cells the real runner wrote, with one fact changed at a time.

Checks take typed records (``reportgen.store.schema``), so each case starts from a real cell of the session's
real store and replaces the one field under test; the expected findings are worked out by hand.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reportgen.describe import checks
from reportgen.i18n import LANGS, placeholders
from reportgen.report.wording import describe
from reportgen.store import CellResult, Predictions, load_run, read_record, write_record
from reportgen.store.schema import DatasetFacts, FindingsRecord, SplitCount

I18N = Path(checks.__file__).parents[1] / "i18n"


@pytest.fixture(scope="module")
def base(real_store: Path) -> CellResult:
    """A real frozen cell (its scores vary; it is not collapsed)."""
    return next(c for c in load_run(real_store).cells if c.cell.strategy == "frozen")


def _facts(name: str = "d", *, val_n: int = 500, train: tuple[int, int] = (500, 500),
           test: tuple[int, int] = (300, 300), dups: dict | None = None) -> DatasetFacts:
    return DatasetFacts(
        name=name, kind="npz", classes=["normal", "pneumonia"], task="binary", color="gray",
        splits={"train": SplitCount(n=sum(train), counts=list(train)),
                "val": SplitCount(n=val_n, counts=[val_n // 2, val_n - val_n // 2]),
                "test": SplitCount(n=sum(test), counts=list(test))},
        val_carved=None, val_split=None, train_subsampled=None, description="", credit="",
        duplicates=dups or {"exact": [], "near": [], "counts": {}})


def _cell(base: CellResult, *, best: int = 3, epochs: int = 5, train_acc: float = 0.85, test_acc: float = 0.82,
          drift: float | None = 0.0, strategy: str = "finetune", cid: str = "c0", dataset: str = "d",
          arch: dict | None = None, probs: np.ndarray | None = None) -> CellResult:
    rows = [base.epochs[0].model_copy(update={"epoch": e, "train_acc": train_acc if e == best else 0.7,
                                              "val_macro_f1": 0.5 + e / 100, "val_auc": 0.6 + e / 100})
            for e in range(1, epochs + 1)]
    test = base.metrics.test.model_copy(update={"accuracy": test_acc})
    out = dataclasses.replace(
        base, cell=base.cell.model_copy(update={"id": cid, "dataset": dataset, "strategy": strategy}),
        arch=base.arch.model_copy(update=arch or {"macs_at_224_vs_meta": 1.003, "imagenet": {"gflops": 1.814}}),
        epochs=rows, metrics=base.metrics.model_copy(update={"test": test}),
        result=base.result.model_copy(update={"cell_id": cid, "best_epoch": best, "epochs_run": epochs,
                                              "stopped_early": False, "frozen_bn_drift": drift,
                                              "test": {**base.result.test, "accuracy": test_acc}}),
        _predictions={})
    if probs is not None:
        n = len(probs)
        out._predictions["test"] = Predictions(index=np.arange(n), sample_id=[f"test[{i}]" for i in range(n)],
                                               labels=np.arange(n) % 2, probs=probs)
    return out


def _run(base: CellResult, datasets: list[DatasetFacts], cells: list[CellResult]):
    run = load_run(base.path.parents[1])
    return dataclasses.replace(run, cells=cells, missing=[], datasets={d.name: d for d in datasets})


def _ids(findings) -> dict[str, str]:
    return {f.id: f.severity for f in findings}


def test_clean_cell_has_no_findings(base):
    assert checks.run_checks(_run(base, [_facts()], [_cell(base)])) == []


def test_sixteen_image_validation_set_is_high(base):
    (f,) = [f for f in checks.run_checks(_run(base, [_facts(val_n=16)], [_cell(base)])) if f.id == "small_val"]
    assert f.severity == "high" and f.evidence == {"n": 16, "resolution": 1 / 16}
    assert "6.25%" in describe(f, "en")["detail"]
    assert "16 張" in describe(f, "zh-TW")["detail"]
    assert _ids(checks.dataset_findings_from_facts(_facts(val_n=60))) == {"small_val": "warning"}


def test_unfrozen_batchnorm_is_high(base):
    (f,) = checks.run_checks(_run(base, [_facts()], [_cell(base, strategy="frozen", drift=0.03, cid="f0")]))
    assert (f.id, f.severity, f.evidence["drift"]) == ("frozen_bn_drift", "high", 0.03)
    assert f.scope == {"dataset": "d", "cell_id": "f0", "backbone": "efficientnet_lite0", "strategy": "frozen", "seed": 0}
    assert "0.03" in describe(f, "en")["detail"]
    assert "EfficientNet-Lite0" in describe(f, "en")["detail"]  # labels, not identifiers


def test_planted_duplicates_are_flagged(base):
    dups = {"exact": [{"a": ["train", 12], "b": ["test", 40]}],
            "near": [{"a": ["train", 3], "b": ["val", 4], "distance": 2}],
            "method": "sha1 + 64-bit DCT pHash, Hamming ≤ 4", "counts": {"exact": 1, "near": 1}}
    found = checks.run_checks(_run(base, [_facts(dups=dups)], [_cell(base)]))
    assert _ids(found) == {"duplicates_exact": "high", "duplicates_near": "info"}
    exact = found[0]
    assert exact.evidence["count"] == 1 and exact.evidence["pairs"] == "train–test 1"
    assert "train #12 ~ test #40" in describe(exact, "zh-TW")["detail"]


def test_best_epoch_last_and_first(base):
    run = _run(base, [_facts()], [_cell(base, cid="last", best=5, epochs=5), _cell(base, cid="first", best=1),
                                  _cell(base, cid="short", best=2, epochs=2)])  # too few epochs to judge
    assert {f.scope["cell_id"]: f.id for f in checks.run_checks(run)} == {"last": "best_epoch_last",
                                                                         "first": "best_epoch_first"}


def test_best_epoch_first_with_a_tied_selection_metric_is_diagnosed_from_the_epoch_log(base):
    """Val AUC tied at every epoch: epoch 1 was kept by the tie rule, not because later epochs were worse; the
    advice for a from-scratch cell carries no fine-tuning learning-rate advice."""
    cell = _cell(base, cid="tied", best=1, strategy="scratch")
    cell.epochs[:] = [r.model_copy(update={"val_auc": 0.75, "val_macro_f1": 0.40 + r.epoch / 100}) for r in cell.epochs]
    (f,) = [f for f in checks.run_checks(_run(base, [_facts()], [cell])) if f.scope.get("cell_id") == "tied"]
    assert f.id == "selection_tied" and f.evidence["other_first"] == "0.410" and f.evidence["other_last"] == "0.450"
    from reportgen.report.wording import describe

    text = describe(f, "en")
    assert "tie rule" in text["detail"] and "fine-tuning" not in text["fix"].lower()


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_a_tie_where_nothing_moved_says_the_outputs_did_not_change(base, lang: str):
    """Both metrics flat at every epoch: "AUC went from 0.500 to 0.500" would cite a trend that is not there."""
    from reportgen.report.wording import describe

    cell = _cell(base, cid="flat", best=1, strategy="frozen")
    cell.epochs[:] = [r.model_copy(update={"val_auc": 0.5, "val_macro_f1": 0.386}) for r in cell.epochs]
    (f,) = [f for f in checks.run_checks(_run(base, [_facts()], [cell])) if f.scope.get("cell_id") == "flat"]
    assert f.id == "selection_tied" and f.evidence["variant_detail"] == "flat"
    detail = describe(f, lang)["detail"]
    assert {"en": "did not move either", "zh-TW": "也始終停在"}[lang] in detail
    assert {"en": "went from", "zh-TW": "變為"}[lang] not in detail


def test_imbalance_and_majority_baseline(base):
    facts = _facts("dr", train=(735, 265), test=(420, 180))
    found = checks.run_checks(_run(base, [facts], [_cell(base, dataset="dr", train_acc=0.75, test_acc=0.71)]))
    # The helper's validation split is balanced (TVD 0.235 from this training mix): a class shift too.
    assert [f.id for f in found] == ["near_majority_baseline", "class_imbalance", "class_shift_val"]
    ev = found[1].evidence
    assert ev["share"] == pytest.approx(0.735) and ev["baseline_acc"] == pytest.approx(0.7)
    assert ev["baseline_macro_f1"] == pytest.approx(2 * 0.7 / 1.7 / 2)  # F1 of the majority class / 2 classes
    assert found[0].evidence["margin_pts"] == pytest.approx(1.0)


def test_train_test_gap(base):
    (f,) = checks.run_checks(_run(base, [_facts()], [_cell(base, train_acc=0.99, test_acc=0.8)]))
    assert f.id == "train_test_gap" and f.evidence["gap_pts"] == pytest.approx(19.0)


def test_mac_disagreement_reported_once_per_backbone_and_a_failed_tool_is_no_finding(base):
    arch = {"macs_torchinfo": 44578.0, "macs_at_224_vs_meta": 0.64,
            "macs_unsupported_ops": {"aten::scaled_dot_product_attention": 12},
            "imagenet": {"name": "ViT_B_16_Weights.IMAGENET1K_V1", "gflops": 17.564}}
    found = checks.run_checks(_run(base, [_facts()], [_cell(base, cid=f"c{i}", arch=arch) for i in range(3)]))
    assert _ids(found) == {"macs_vs_meta": "warning"} and len(found) == 1


@pytest.mark.parametrize(("probs", "collapsed"), [
    (np.tile([0.3, 0.7], (8, 1)), True),  # constant scores
    (np.array([[0.4 - i / 100, 0.6 + i / 100] for i in range(8)]), True),  # scores vary, one class called
    (np.array([[0.2, 0.8], [0.8, 0.2]] * 4), False),
])
def test_collapsed_model_is_high(base, probs, collapsed):
    found = checks.run_checks(_run(base, [_facts()], [_cell(base, probs=probs)]))
    assert ("collapsed" in _ids(found)) is collapsed
    if collapsed:
        f = next(f for f in found if f.id == "collapsed")
        assert f.severity == "high" and f.evidence["predicted_class"] == "pneumonia"
        assert f.evidence["constant_scores"] is (float(np.ptp(probs[:, 1])) < checks.COLLAPSE_SCORE_RANGE)


def test_findings_sorted_by_severity(base):
    run = _run(base, [_facts(val_n=50)], [_cell(base, drift=0.1, best=1)])
    assert [f.severity for f in checks.run_checks(run)] == ["high", "warning", "warning"]


def test_every_finding_describes_in_both_languages(base, tmp_path):
    arch = {"macs_at_224_vs_meta": 0.5, "imagenet": {"name": "w", "gflops": 1.0}}
    dups = {"exact": [{"a": ["train", 1], "b": ["val", 2]}], "near": [{"a": ["val", 1], "b": ["test", 2]}]}
    facts = _facts(val_n=10, dups=dups, train=(900, 100))
    run = _run(base, [facts], [
        _cell(base, cid="a", best=5, drift=1e-4, arch=arch, train_acc=0.99, test_acc=0.5),
        _cell(base, cid="b", best=1, probs=np.tile([0.3, 0.7], (8, 1)))])
    found = checks.run_checks(run)
    ids = {f.id for f in found}
    assert len(ids) == 13, ids  # every check fired once in this store (class shift on val and on test)
    for f in found:
        for lang in LANGS:
            text = describe(f, lang)
            assert all(text.values()) and "{" not in "".join(text.values())
    path = tmp_path / "analysis" / "findings.json"  # written by the description step (describe/persist.py)
    write_record(path, FindingsRecord(source="reportgen.describe.checks.run_checks", findings=found))
    assert read_record(FindingsRecord, path).findings == found


def test_catalog_same_keys_and_placeholders():
    en = json.loads((I18N / "checks.en.json").read_text(encoding="utf-8"))
    zh = json.loads((I18N / "checks.zh-TW.json").read_text(encoding="utf-8"))
    assert en.keys() == zh.keys()
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key
    for check_id in ["small_val", "class_imbalance", "near_majority_baseline", "duplicates_exact",
                     "duplicates_near", "best_epoch_last", "best_epoch_first", "train_test_gap",
                     "frozen_bn_drift", "macs_vs_meta", "collapsed"]:
        assert {f"checks.{check_id}.{p}" for p in ("title", "detail", "fix")} <= en.keys()


def test_checks_module_imports_neither_torch_nor_the_catalogs():
    code = "import sys, reportgen.describe.checks; assert 'torch' not in sys.modules; assert 'reportgen.i18n' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
