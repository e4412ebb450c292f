"""ROC curves, AUC (plain and bootstrap-weighted), Youden thresholds and calibration error, on numpy arrays.

Split from :mod:`reportgen.describe.metrics` (which re-exports them); the conventions are that module's."""

from __future__ import annotations

import numpy as np

from .inputs import _binary_inputs, check_inputs, finite_or_none

# --------------------------------------------------------------------------- ROC / AUC


def _weighted_binary_auc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC (ties count 1/2) of each weighted resample; NaN where one class is absent.

    Sorting once and summing weights per distinct score turns every resample's AUC into a
    cumulative sum, so 1000 bootstrap AUCs cost about as much as 1000 accuracies.
    """
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    w = weights[:, order]
    pos = positive[order].astype(float)
    gp = np.add.reduceat(w * pos, starts, axis=1)  # positive weight at each distinct score
    gn = np.add.reduceat(w * (1.0 - pos), starts, axis=1)
    below = np.cumsum(gn, axis=1) - gn  # negative weight strictly below each score
    num = (gp * (below + 0.5 * gn)).sum(axis=1)
    den = gp.sum(axis=1) * gn.sum(axis=1)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _weighted_auc(weights: np.ndarray, y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Binary AUC of ``probs[:, 1]``, or the macro one-vs-rest AUC over the defined classes."""
    if probs.shape[1] == 2:
        return _weighted_binary_auc(weights, y == 1, probs[:, 1])
    per_class_auc = np.stack(
        [_weighted_binary_auc(weights, y == k, probs[:, k]) for k in range(probs.shape[1])], axis=1
    )
    defined = ~np.isnan(per_class_auc)
    total = np.where(defined, per_class_auc, 0.0).sum(axis=1)
    count = defined.sum(axis=1)
    out = np.full(total.shape, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def roc_auc(y_true, probs) -> float | None:
    """Area under the ROC curve: binary on ``probs[:, 1]``, else macro one-vs-rest.

    Ties count 1/2 (the Mann-Whitney statistic, identical to scikit-learn's ``roc_auc_score``).
    In the multiclass case the macro average runs over the classes that have both positives and
    negatives in ``y_true`` (scikit-learn raises instead when a class is absent).

    Returns:
        the AUC, or None when undefined (only one class present).
    """
    y, p = check_inputs(y_true, probs)
    if np.unique(y).size < 2:
        return None
    return finite_or_none(_weighted_auc(np.ones((1, y.shape[0])), y, p)[0])


def per_class_auc(y_true, probs) -> list[float | None]:
    """One-vs-rest AUC of each class (its probability against every other class); None where undefined.

    The multiclass ``roc_auc`` is the mean of the defined entries; for a binary task both entries equal it.
    """
    y, p = check_inputs(y_true, probs)
    ones = np.ones((1, y.shape[0]))
    return [finite_or_none(_weighted_binary_auc(ones, y == k, p[:, k])[0]) for k in range(p.shape[1])]


def roc_curve_points(y_true, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of a binary score, for plotting and threshold selection.

    ``thresholds`` are the distinct scores in decreasing order preceded by ``+inf`` (the point
    (0, 0)); point ``i`` calls a sample positive when ``score >= thresholds[i]``.

    Returns:
        ``(fpr, tpr, thresholds)``, three 1-D float arrays of equal length.

    Raises:
        ValueError: when ``y_true`` does not contain both classes.
    """
    y, s = _binary_inputs(y_true, score)
    n_pos = int((y == 1).sum())
    n_neg = y.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC needs both classes, got {n_pos} positives and {n_neg} negatives")
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # The last sample of each run of equal scores closes one threshold.
    last = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), s_sorted.shape[0] - 1]
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    thresholds = np.r_[np.inf, s_sorted[last]]
    return fpr, tpr, thresholds


def youden_threshold(y_true, score) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 over the ROC thresholds.

    Tie-breaking: among thresholds with the same maximal J (compared exactly) the *largest* is
    returned, i.e. the most specific operating point; this is what ``thresholds[argmax(J)]`` gives
    on the decreasing threshold list. The artificial ``+inf`` threshold is never returned.

    Raises:
        ValueError: when ``y_true`` does not contain both classes.
    """
    fpr, tpr, thresholds = roc_curve_points(y_true, score)
    j = tpr[1:] - fpr[1:]
    return float(thresholds[1:][int(np.argmax(j))])


# --------------------------------------------------------------------------- calibration


def expected_calibration_error(y_true, probs, n_bins: int = 15) -> float:
    """Expected calibration error of the top-label confidence over equal-width bins.

    Bins are ``(i/n_bins, (i+1)/n_bins]`` (a confidence of exactly 0 joins the first bin);
    ECE = sum over bins of ``|bin| / n * |accuracy(bin) - mean confidence(bin)|``.
    """
    y, p = check_inputs(y_true, probs)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.bincount(bins, weights=correct, minlength=n_bins) - np.bincount(
        bins, weights=confidence, minlength=n_bins
    )
    # |sum(correct) - sum(conf)| / n per bin equals |bin|/n * |acc - conf|.
    return float(np.abs(gap[count > 0]).sum() / y.shape[0])
