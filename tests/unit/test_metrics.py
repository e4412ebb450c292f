"""Metric kernels against hand-worked cases and scikit-learn."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pytest

from reportgen.describe import metrics as M

# A 3-class case worked by hand (see test_confusion_matrix_and_per_class_by_hand).
Y3 = [0, 0, 0, 1, 1, 2, 2, 2, 2]
P3 = [0, 1, 0, 1, 2, 2, 1, 0, 2]


def _random_probs(rng, n, k, signal=1.5):
    """Labels and softmax probabilities that carry some signal about the label."""
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += signal
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, e / e.sum(axis=1, keepdims=True)


def test_confusion_matrix_and_per_class_by_hand():
    cm = M.confusion_matrix(Y3, P3, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [1, 1, 2]]
    assert cm.dtype.kind == "i"
    rows = M.per_class(cm, ["a", "b", "c"])
    # precision = tp / column sum (3, 3, 3); recall = tp / row sum (3, 2, 4); f1 = 2PR/(P+R)
    expected = [
        ("a", 2 / 3, 2 / 3, 2 / 3, 3),
        ("b", 1 / 3, 1 / 2, 2 / 5, 2),
        ("c", 2 / 3, 1 / 2, 4 / 7, 4),
    ]
    for row, (name, p, r, f1, support) in zip(rows, expected, strict=False):
        assert row["name"] == name
        assert row["precision"] == pytest.approx(p)
        assert row["recall"] == pytest.approx(r)
        assert row["f1"] == pytest.approx(f1)
        assert row["support"] == support


def test_per_class_undefined_ratios_are_zero_without_warnings():
    # Class 2 never occurs and is never predicted; class 1 is never predicted.
    cm = M.confusion_matrix([0, 0, 1], [0, 0, 0], 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = M.per_class(cm, ["x", "y", "z"])
    assert rows[1] == {"name": "y", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert rows[2] == {"name": "z", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert rows[0]["precision"] == pytest.approx(2 / 3) and rows[0]["recall"] == 1.0


def test_confusion_matrix_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="0..1"):
        M.confusion_matrix([0, 2], [0, 1], 2)


def test_quadratic_weighted_kappa_by_hand():
    # O = [[1,0,0],[0,0,1],[0,1,1]], W_ij = (i-j)^2/4, E = outer([1,1,2],[1,1,2]) / 4.
    # sum(W*O) = 1/4 + 1/4 = 1/2; sum(W*E) = 2/16 + 2*(4/4)(2/4) + 2*(1/4)(2/4) = 11/8.
    # kappa = 1 - (1/2)/(11/8) = 7/11.
    assert M.quadratic_weighted_kappa([0, 1, 2, 2], [0, 2, 2, 1], 3) == pytest.approx(7 / 11)
    assert M.quadratic_weighted_kappa([0, 1, 2], [0, 1, 2], 3) == pytest.approx(1.0)
    assert np.isnan(M.quadratic_weighted_kappa([1, 1], [1, 1], 3))  # no chance disagreement


def test_quadratic_weighted_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(1)
    for _ in range(5):
        y = rng.integers(0, 5, 300)
        pred = np.clip(y + rng.integers(-2, 3, 300), 0, 4)
        ours = M.quadratic_weighted_kappa(y, pred, 5)
        assert ours == pytest.approx(cohen_kappa_score(y, pred, weights="quadratic"), abs=1e-12)


def test_aggregate_scores_match_sklearn():
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(2)
    for k in (2, 3, 5):
        y, p = _random_probs(rng, 400, k)
        pred = p.argmax(axis=1)
        ones = np.ones((1, len(y)))
        assert M.weighted_metric("macro_f1", y, p, ones)[0] == pytest.approx(
            f1_score(y, pred, average="macro")
        )
        assert M.weighted_metric("weighted_f1", y, p, ones)[0] == pytest.approx(
            f1_score(y, pred, average="weighted")
        )
        assert M.weighted_metric("balanced_accuracy", y, p, ones)[0] == pytest.approx(
            balanced_accuracy_score(y, pred)
        )
        expected_auc = roc_auc_score(y, p[:, 1]) if k == 2 else roc_auc_score(y, p, multi_class="ovr")
        assert M.roc_auc(y, p) == pytest.approx(expected_auc, abs=1e-12)


def test_roc_auc_ties_and_undefined():
    # Positives {0.5, 0.8}, negatives {0.2, 0.5}: pairs won 1 + 0.5 (tie) + 1 + 1 = 3.5 of 4.
    p1 = np.array([0.2, 0.5, 0.5, 0.8])
    probs = np.c_[1 - p1, p1]
    assert M.roc_auc([0, 0, 1, 1], probs) == pytest.approx(0.875)
    assert M.roc_auc([1, 1, 1, 1], probs) is None


def test_roc_curve_points_by_hand():
    fpr, tpr, thr = M.roc_curve_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert thr.tolist() == [np.inf, 0.8, 0.4, 0.35, 0.1]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    with pytest.raises(ValueError, match="both classes"):
        M.roc_curve_points([1, 1], [0.1, 0.2])


def test_youden_threshold_by_hand():
    # P = N = 3. J at each threshold (score >= t is positive):
    # 0.8: 1/3 - 0 | 0.7: 2/3 - 0 | 0.6: 2/3 - 1/3 | 0.4: 2/3 - 2/3 | 0.35: 1 - 2/3 | 0.1: 0
    y = [0, 0, 1, 1, 0, 1]
    score = [0.1, 0.4, 0.35, 0.8, 0.6, 0.7]
    assert M.youden_threshold(y, score) == 0.7


def test_youden_threshold_tie_takes_the_largest_threshold():
    # J = 1/2 at both 0.8 (TPR 1/2, FPR 0) and 0.4 (TPR 1, FPR 1/2): the documented rule
    # returns the larger (more specific) one.
    assert M.youden_threshold([0, 1, 0, 1], [0.2, 0.4, 0.6, 0.8]) == 0.8


def test_ece_by_hand():
    probs = np.array(
        [
            [0.90, 0.05, 0.05],  # conf 0.90, correct -> bin (0.8, 1.0]
            [0.10, 0.70, 0.20],  # conf 0.70, wrong   -> bin (0.6, 0.8]
            [0.25, 0.30, 0.45],  # conf 0.45, correct -> bin (0.4, 0.6]
            [0.10, 0.75, 0.15],  # conf 0.75, correct -> bin (0.6, 0.8]
        ]
    )
    y = [0, 2, 2, 1]
    # 1/4 |1 - 0.9| + 2/4 |0.5 - 0.725| + 1/4 |1 - 0.45| = 0.025 + 0.1125 + 0.1375
    assert M.expected_calibration_error(y, probs, n_bins=5) == pytest.approx(0.275)
    # One bin: |accuracy - mean confidence| = |3/4 - (0.9 + 0.7 + 0.45 + 0.75)/4| = 0.05
    assert M.expected_calibration_error(y, probs, n_bins=1) == pytest.approx(0.05)


def test_bootstrap_ci_fast_and_callable_paths_agree():
    rng = np.random.default_rng(3)
    y, p = _random_probs(rng, 150, 3)

    def accuracy(yy, pp):
        return float(np.mean(pp.argmax(axis=1) == yy))

    fast = M.bootstrap_ci(y, p, "accuracy", n_boot=300, seed=7)
    slow = M.bootstrap_ci(y, p, accuracy, n_boot=300, seed=7)
    assert fast == pytest.approx(slow, abs=1e-12)
    assert fast[0] < accuracy(y, p) < fast[1]


def test_bootstrap_ci_skips_undefined_resamples():
    # Two positives among 12: some resamples have no positive, where the AUC is undefined.
    y = np.array([1, 1] + [0] * 10)
    p1 = np.linspace(0.05, 0.95, 12)
    probs = np.c_[1 - p1, p1]
    dist = M.bootstrap_distribution(y, probs, "auc", n_boot=400, seed=0)
    assert np.isnan(dist).sum() > 0
    lo, hi = M.bootstrap_ci(y, probs, "auc", n_boot=400, seed=0)
    assert 0.0 <= lo <= hi <= 1.0
    assert M.bootstrap_ci(y, probs, lambda yy, pp: M.roc_auc(yy, pp), n_boot=400, seed=0) == pytest.approx(
        (lo, hi)
    )


def test_bootstrap_auc_matches_sklearn_per_resample():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    y, p = _random_probs(rng, 80, 2, signal=0.8)
    dist = M.bootstrap_distribution(y, p, "auc", n_boot=25, seed=5)
    idx = next(M.bootstrap_resamples(len(y), n_boot=25, seed=5))
    ref = [roc_auc_score(y[r], p[r, 1]) for r in idx]
    np.testing.assert_allclose(dist, ref, atol=1e-12)


def test_bootstrap_ci_coverage_of_a_known_accuracy():
    # Each prediction is right with probability 0.8, so the true accuracy is 0.8; a 95 % CI
    # should contain it in roughly 95 % of repetitions (percentile intervals run a little low).
    rng = np.random.default_rng(11)
    n, reps, hits = 200, 200, 0
    for rep in range(reps):
        y = rng.integers(0, 2, n)
        correct = rng.random(n) < 0.8
        pred = np.where(correct, y, 1 - y)
        probs = np.eye(2)[pred] * 0.8 + 0.1
        lo, hi = M.bootstrap_ci(y, probs, "accuracy", n_boot=200, seed=rep)
        hits += lo <= 0.8 <= hi
    assert 0.88 <= hits / reps <= 0.99


def test_summarize_binary_keys_ranges_and_thresholds():
    # Scores on a grid so the threshold behaviour can be checked by hand.
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 0])
    p1 = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8, 0.9, 0.45])
    probs = np.c_[1 - p1, p1]
    out = M.summarize(y, probs, class_names=["normal", "pneumonia"], threshold=0.4, n_boot=200)
    json.dumps(out, allow_nan=False)  # plain JSON, no NaN
    expected_keys = {
        "n", "accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auc", "ece", "kappa_quadratic",
        "per_class", "confusion_matrix", "confusion_matrix_normalized", "prevalence",
        "majority_baseline_accuracy", "ci", "binary",
    }  # fmt: skip
    assert expected_keys <= set(out)
    assert set(out["ci"]) == {"accuracy", "macro_f1", "auc", "balanced_accuracy", "kappa_quadratic", "loss"}
    assert out["n"] == 10
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auc", "ece"):
        assert 0.0 <= out[key] <= 1.0
    # argmax: 0.5 vs 0.5 ties to class 0 (index order), so only 0.6..0.9 are called positive
    # on the argmax path; at the 0.5 threshold 0.5 itself is positive (score >= t).
    assert out["confusion_matrix"] == [[4, 1], [2, 3]]
    assert out["accuracy"] == pytest.approx(0.7)
    assert out["prevalence"] == [0.5, 0.5]
    assert out["majority_baseline_accuracy"] == 0.5
    assert out["confusion_matrix_normalized"] == [[0.8, 0.2], [0.4, 0.6]]
    at05 = out["binary"]["at_0.5"]
    assert at05["threshold"] == 0.5
    assert (at05["tp"], at05["fp"], at05["tn"], at05["fn"]) == (4, 1, 4, 1)
    assert at05["sensitivity"] == pytest.approx(0.8) and at05["specificity"] == pytest.approx(0.8)
    at04 = out["binary"]["at_val_youden"]
    assert at04["threshold"] == 0.4
    assert (at04["tp"], at04["fp"], at04["tn"], at04["fn"]) == (5, 2, 3, 0)
    assert at04["sensitivity"] == 1.0 and at04["npv"] == 1.0 and at04["ppv"] == pytest.approx(5 / 7)
    for name, (lo, hi) in out["ci"].items():
        low = {"kappa_quadratic": -1.0, "loss": 0.0}.get(name, 0.0)
        high = float("inf") if name == "loss" else 1.0
        assert low <= lo <= hi <= high, name
    assert out["ci"]["accuracy"] == list(M.bootstrap_ci(y, probs, "accuracy", n_boot=200, seed=0))
    assert M.summarize(y, probs, class_names=["a", "b"], n_boot=10)["binary"]["at_val_youden"] is None


def test_summarize_multiclass_and_empty_rows():
    rng = np.random.default_rng(6)
    y, p = _random_probs(rng, 120, 4)
    y[y == 3] = 2  # class 3 never occurs in y_true
    out = M.summarize(y, p, class_names=["a", "b", "c", "d"], n_boot=100)
    json.dumps(out, allow_nan=False)
    assert out["binary"] is None
    assert out["confusion_matrix_normalized"][3] == [0.0, 0.0, 0.0, 0.0]
    assert sum(out["prevalence"]) == pytest.approx(1.0) and out["prevalence"][3] == 0.0
    assert out["per_class"][3]["support"] == 0
    assert len(out["per_class"]) == 4 and out["per_class"][0]["name"] == "a"
    assert -1.0 <= out["kappa_quadratic"] <= 1.0
    with pytest.raises(ValueError, match="class names"):
        M.summarize(y, p, class_names=["a", "b"], n_boot=0)


def test_summarize_is_fast_enough():
    # Budget in the brief: < ~1.5 s for n=624, n_boot=1000 on one slow core; typically ~0.2 s.
    rng = np.random.default_rng(7)
    y, p = _random_probs(rng, 624, 2)
    start = time.perf_counter()
    M.summarize(y, p, class_names=["n", "p"], threshold=0.5, n_boot=1000)
    assert time.perf_counter() - start < 3.0


def test_mean_sd():
    assert M.mean_sd([0.8, 0.9, 1.0]) == {"mean": pytest.approx(0.9), "sd": pytest.approx(0.1), "n": 3}
    assert M.mean_sd([0.7]) == {"mean": 0.7, "sd": None, "n": 1}
    assert M.mean_sd([None, 0.5, float("nan"), 0.7])["n"] == 2
    assert M.mean_sd([]) == {"mean": None, "sd": None, "n": 0}


def test_metrics_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, reportgen.describe.metrics, reportgen.describe.compare; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
