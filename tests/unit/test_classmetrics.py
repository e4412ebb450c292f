"""Loss, Wilson intervals, most-confused pairs, per-class AUC and kappa: hand-computed cases, then summarize."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from reportgen.describe import classmetrics as CM
from reportgen.describe import metrics as M
from reportgen.store.schema import SplitMetrics


def _probs_for(y: list[int], pred: list[int], k: int, conf: float = 0.7) -> np.ndarray:
    """Probabilities whose argmax is ``pred`` (conf on the predicted class, the rest spread evenly)."""
    p = np.full((len(y), k), (1 - conf) / (k - 1))
    p[np.arange(len(y)), pred] = conf
    return p


# --------------------------------------------------------------------------- loss
def test_loss_by_hand_and_like_sklearn():
    y = np.array([0, 1, 1])
    probs = np.array([[0.8, 0.2], [0.25, 0.75], [0.5, 0.5]])
    # -(ln 0.8 + ln 0.75 + ln 0.5) / 3 = ln(1 / (0.8 * 0.75 * 0.5)) / 3 = ln(10/3) / 3
    loss = float(CM.sample_losses(y, probs).mean())
    assert loss == pytest.approx(math.log(10 / 3) / 3, abs=1e-15)
    from sklearn.metrics import log_loss

    assert loss == pytest.approx(log_loss(y, probs), abs=1e-15)
    # A probability of exactly 0 for the true class is clipped to float64 eps = 2**-52: 52 ln 2, not inf.
    assert CM.sample_losses(np.array([1]), np.array([[1.0, 0.0]]))[0] == pytest.approx(52 * math.log(2))
    assert log_loss([1, 0], [[1.0, 0.0], [1.0, 0.0]], labels=[0, 1]) == pytest.approx(52 * math.log(2) / 2)


def test_loss_resample_weights_count_samples():
    per = np.array([1.0, 2.0, 4.0])
    # Sample 0 drawn twice, sample 2 once: (1 + 1 + 4) / 3 = 2.
    assert CM.weighted_loss(np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]), per).tolist() == [2.0, 7 / 3]


# --------------------------------------------------------------------------- Wilson
def test_wilson_interval_by_hand():
    # 8 of 10, z = 1.96: centre (0.8 + z²/20) / (1 + z²/10) = 0.71674, half-width 0.22658.
    lo, hi = CM.wilson_interval(8, 10)
    assert lo == pytest.approx(0.49016, abs=5e-5) and hi == pytest.approx(0.94332, abs=5e-5)
    # 0 of 5: the lower bound is 0 and the upper bound is z² / (n + z²) — never a zero-width interval.
    lo, hi = CM.wilson_interval(0, 5)
    assert lo == 0.0 and hi == pytest.approx(CM.Z95**2 / (5 + CM.Z95**2))
    lo, hi = CM.wilson_interval(5, 5)
    assert hi == 1.0 and lo == pytest.approx(5 / (5 + CM.Z95**2))
    assert CM.wilson_interval(0, 0) == (None, None)


def test_per_class_cis_use_support_for_recall_and_predictions_for_precision():
    cm = np.array([[8, 2], [0, 0]])  # class 1 never occurs and is never predicted correctly
    cis = CM.per_class_cis(cm)
    assert cis[0]["recall_ci"] == CM.wilson_interval(8, 10)
    assert cis[0]["precision_ci"] == CM.wilson_interval(8, 8)
    assert cis[1]["recall_ci"] == (None, None)  # no support
    assert cis[1]["precision_ci"] == CM.wilson_interval(0, 2)


# --------------------------------------------------------------------------- confused pairs
def test_confused_pairs_by_hand():
    cm = np.array([[5, 3, 1],
                   [0, 3, 3],
                   [4, 0, 2]])
    pairs = CM.confused_pairs(cm, ["a", "b", "c"])
    # c→a 4 of 6; then two pairs of 3: b→c (3 of 6 = 0.5) before a→b (3 of 9); then a→c 1 of 9.
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("c", "a", 4), ("b", "c", 3), ("a", "b", 3), ("a", "c", 1)]
    assert [p["share"] for p in pairs] == pytest.approx([4 / 6, 3 / 6, 3 / 9, 1 / 9])
    assert CM.confused_pairs(np.diag([3, 4]), ["x", "y"]) == []


# --------------------------------------------------------------------------- kappa and per-class AUC
def test_kappa_bootstrap_ci_is_the_scalar_kappa_on_each_resample():
    y = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    pred = np.array([0, 2, 2, 1, 1, 0, 2, 0])
    probs = _probs_for(y.tolist(), pred.tolist(), 3)
    out = M.summarize(y, probs, class_names=["0", "1", "2"], n_boot=300, seed=4)
    assert out["kappa_quadratic"] == pytest.approx(M.quadratic_weighted_kappa(y, pred, 3))
    slow = M.bootstrap_ci(y, probs, lambda yy, pp: M.quadratic_weighted_kappa(yy, pp.argmax(1), 3),
                          n_boot=300, seed=4)
    assert out["ci"]["kappa_quadratic"] == pytest.approx(list(slow), abs=1e-12)


def test_quadratic_kappa_by_hand_through_summarize():
    # observed [[1,0,0],[0,0,1],[0,1,1]]; disagreement weights (i-j)²/4: observed 1/4 + 1/4 = 1/2;
    # expected (row sums ⊗ column sums) / n gives 11/8; kappa = 1 - (1/2)/(11/8) = 7/11.
    y, pred = [0, 1, 2, 2], [0, 2, 2, 1]
    out = M.summarize(np.array(y), _probs_for(y, pred, 3), class_names=["g0", "g1", "g2"], n_boot=0)
    assert out["kappa_quadratic"] == pytest.approx(7 / 11)


def test_per_class_auc_by_hand():
    y = np.array([0, 0, 1, 2])
    probs = np.array([[0.6, 0.3, 0.1],
                      [0.2, 0.5, 0.3],
                      [0.3, 0.4, 0.3],
                      [0.4, 0.1, 0.5]])
    # class 0: positives 0.6, 0.2 vs negatives 0.3, 0.4 -> pairs won: (0.6>0.3, 0.6>0.4) = 2 of 4 -> 0.5
    # class 1: positive 0.4 vs 0.3, 0.5, 0.1 -> 2 of 3
    # class 2: positive 0.5 vs 0.1, 0.3, 0.3 -> 3 of 3
    assert M.per_class_auc(y, probs) == pytest.approx([0.5, 2 / 3, 1.0])
    assert M.roc_auc(y, probs) == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
    assert M.per_class_auc(np.array([0, 0, 1]), probs[:3])[2] is None  # class 2 absent


def test_summarize_stores_loss_per_class_cis_and_pairs():
    y = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
    pred = [0, 0, 1, 1, 2, 2, 2, 2, 0, 0]
    probs = _probs_for(y, pred, 3, conf=0.6)
    out = M.summarize(np.array(y), probs, class_names=["a", "b", "c"], n_boot=50)
    json.dumps(out, allow_nan=False)
    SplitMetrics.model_validate(out)
    # 6 correct at p = 0.6, 4 wrong at p = 0.2 on the true class.
    assert out["loss"] == pytest.approx(-(6 * math.log(0.6) + 4 * math.log(0.2)) / 10)
    c = out["per_class"][2]
    assert (c["support"], c["recall"]) == (5, 0.6)
    assert tuple(c["recall_ci"]) == CM.wilson_interval(3, 5)
    assert tuple(c["precision_ci"]) == CM.wilson_interval(3, 4)  # predicted c four times, three right
    assert [(p["true"], p["predicted"], p["count"]) for p in out["confused_pairs"]] == [
        ("c", "a", 2), ("b", "c", 1), ("a", "b", 1)]  # ties: share 1/2 before 1/3
    lo, hi = out["ci"]["loss"]
    assert lo <= out["loss"] <= hi
