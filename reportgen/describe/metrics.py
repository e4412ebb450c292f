"""Metric kernels on numpy arrays: confusion matrices, AUC, calibration, kappa and bootstrap CIs.

Nothing here imports torch (render recomputes numbers from the prediction CSVs without a deep
learning stack), and nothing imports scikit-learn, whose import alone costs more than a whole
``summarize`` call. Conventions shared by every function:

* ``y_true`` holds integer class indices ``0..K-1``; ``probs`` is an ``(n, K)`` array of class
  probabilities, one row per sample.
* The predicted class is ``argmax(probs)`` (an exact tie goes to the lower index, as numpy does).
* For binary tasks the positive class is index 1 and its score is ``probs[:, 1]``; a sample is
  called positive at threshold ``t`` when ``score >= t``.
* A bootstrap resample is a row of *weights* (how often each sample was drawn). Point estimates
  (all weights 1) and bootstrap replicates run through the same vectorised code, so a CI can
  never disagree with its point estimate about what the metric means.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..registry import metrics as metric_registry
from . import classmetrics
from .curves import (  # noqa: F401 - re-exported: metrics.roc_auc etc. are the public names
    _weighted_auc,
    _weighted_binary_auc,
    expected_calibration_error,
    per_class_auc,
    roc_auc,
    roc_curve_points,
    youden_threshold,
)
from .inputs import (  # noqa: F401 - re-exported
    _binary_inputs,
    _check_labels,
    _safe_div,
    check_inputs,
    finite_or_none,
)

logger = logging.getLogger(__name__)

# Metrics the bootstrap computes vectorised from resample weights (no Python loop per resample).
FAST_METRICS = metric_registry.VECTORISED

# Upper bound on resamples x samples held in memory at once: a 50k-image test set with
# n_boot=1000 would otherwise need ~0.8 GB of index and weight matrices.
_CHUNK_ELEMENTS = 2_000_000


# --------------------------------------------------------------------------- confusion matrix


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Count matrix with rows = true class and columns = predicted class.

    Returns:
        an ``(n_classes, n_classes)`` int64 array.
    """
    y = _check_labels(y_true, n_classes)
    p = _check_labels(y_pred, n_classes)
    if y.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {y.shape[0]} and {p.shape[0]}")
    flat = np.bincount(y * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def _weighted_confusion(weights: np.ndarray, y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices of a batch of resamples: ``(B, n)`` weights -> ``(B, K, K)``."""
    onehot = np.zeros((y.shape[0], n_classes * n_classes))
    onehot[np.arange(y.shape[0]), y * n_classes + pred] = 1.0
    return (weights @ onehot).reshape(-1, n_classes, n_classes)


def _confusion_scores(cms: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, macro and weighted F1 of a batch of ``(B, K, K)`` matrices.

    Macro F1 averages over the classes that occur in ``y_true`` or ``y_pred`` and balanced
    accuracy over the classes that occur in ``y_true`` (scikit-learn's defaults), so a class
    missing from a small test set does not count as an F1 of zero.
    """
    tp = np.diagonal(cms, axis1=1, axis2=2)
    support = cms.sum(axis=2)
    predicted = cms.sum(axis=1)
    n = support.sum(axis=1)
    f1 = _safe_div(2 * tp, support + predicted)  # = 2PR/(P+R), without a 0/0 in P or R
    recall = _safe_div(tp, support)
    seen = (support + predicted) > 0
    present = support > 0
    return {
        "accuracy": _safe_div(tp.sum(axis=1), n),
        "balanced_accuracy": _safe_div((recall * present).sum(axis=1), present.sum(axis=1)),
        "macro_f1": _safe_div((f1 * seen).sum(axis=1), seen.sum(axis=1)),
        "weighted_f1": _safe_div((f1 * support).sum(axis=1), n),
    }


def per_class(cm, class_names: Sequence[str]) -> list[dict]:
    """Precision, recall, F1 and support per class, 0 where a ratio is undefined (no warnings).

    Returns:
        one dict per class: ``{"name", "precision", "recall", "f1", "support"}``.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(
            f"expected a square confusion matrix matching {len(class_names)} class names, got {cm.shape}"
        )
    tp = np.diagonal(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * tp, support + predicted)
    return [
        {
            "name": str(name),
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        for k, name in enumerate(class_names)
    ]


def _kappa_from_confusion(cms: np.ndarray) -> np.ndarray:
    """Quadratic weighted kappa of a batch of ``(B, K, K)`` (weighted) confusion matrices; NaN where undefined."""
    k = cms.shape[1]
    idx = np.arange(k)
    weights = (idx[:, None] - idx[None, :]) ** 2 / max(k - 1, 1) ** 2
    n = cms.sum(axis=(1, 2))
    expected = np.einsum("bi,bj->bij", cms.sum(axis=2), cms.sum(axis=1))
    chance = np.full(n.shape, np.nan)
    np.divide((weights * expected).sum(axis=(1, 2)), n, out=chance, where=n > 0)
    out = np.full(n.shape, np.nan)
    np.divide((weights * cms).sum(axis=(1, 2)), chance, out=out, where=(chance > 0) & ~np.isnan(chance))
    return np.where(np.isnan(out), np.nan, 1.0 - out)


def quadratic_weighted_kappa(y_true, y_pred, n_classes: int) -> float:
    """Cohen's kappa with quadratic weights (for ordinal grades such as retinopathy 0-4).

    Returns NaN when undefined: fewer than two classes, or chance disagreement of zero (every
    label and every prediction is the same single class).
    """
    if n_classes < 2:
        return float("nan")
    observed = confusion_matrix(y_true, y_pred, n_classes).astype(float)
    return float(_kappa_from_confusion(observed[None])[0])


# --------------------------------------------------------------------------- bootstrap


def bootstrap_resamples(n: int, *, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yield bootstrap resamples as ``(chunk, n)`` index arrays, ``n_boot`` rows in all.

    The chunk size depends only on ``n``, so the resamples are a function of
    ``(n, n_boot, seed)``: every metric bootstrapped with the same seed sees the same resamples,
    which is what makes paired comparisons paired.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < n_boot:
        rows = min(chunk, n_boot - done)
        yield rng.integers(0, n, size=(rows, n))
        done += rows


def resample_weights(indices: np.ndarray, n: int) -> np.ndarray:
    """Turn ``(B, n)`` resample indices into ``(B, n)`` float multiplicities (how often drawn)."""
    b = indices.shape[0]
    flat = (indices + n * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def weighted_metric(name: str, y_true, probs, weights) -> np.ndarray:
    """One of ``FAST_METRICS`` for each row of sample weights (all ones = the plain metric).

    Returns:
        a ``(B,)`` float array; NaN where the metric is undefined (AUC with one class).
    """
    if name not in FAST_METRICS:
        raise ValueError(f"expected a metric name in {FAST_METRICS}, got {name!r}")
    y, p = check_inputs(y_true, probs)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    if name == "auc":
        return _weighted_auc(w, y, p)
    cms = _weighted_confusion(w, y, p.argmax(axis=1), p.shape[1])
    return _confusion_scores(cms)[name]


def percentile_ci(values: np.ndarray, alpha: float) -> tuple[float | None, float | None]:
    """Percentile interval of the defined (non-NaN) bootstrap values; (None, None) if none."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return None, None
    lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def call_metric(metric: Callable, y: np.ndarray, p: np.ndarray) -> float:
    """Call a user metric; None, NaN or a ValueError (scikit-learn's signal) mean undefined."""
    try:
        value = metric(y, p)
    except ValueError:
        return float("nan")
    return float("nan") if value is None else float(value)


def bootstrap_distribution(
    y_true, probs, metric: str | Callable, *, n_boot: int = 1000, seed: int = 0
) -> np.ndarray:
    """The metric on each of ``n_boot`` bootstrap resamples (NaN where undefined).

    ``metric`` is a name from ``FAST_METRICS`` (vectorised) or a ``callable(y_true, probs)``
    returning a float (called once per resample). Both see the same resamples for a given seed.
    """
    y, p = check_inputs(y_true, probs)
    n = y.shape[0]
    parts = []
    for idx in bootstrap_resamples(n, n_boot=n_boot, seed=seed):
        if isinstance(metric, str):
            parts.append(weighted_metric(metric, y, p, resample_weights(idx, n)))
        else:
            parts.append(np.array([call_metric(metric, y[row], p[row]) for row in idx]))
    return np.concatenate(parts) if parts else np.empty(0)


def bootstrap_ci(
    y_true, probs, metric: str | Callable, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float | None, float | None]:
    """Percentile bootstrap confidence interval over samples.

    Resamples where the metric is undefined (returns None/NaN or raises ValueError, e.g. an AUC
    on a resample with one class) are skipped; a debug log says how many.

    Returns:
        ``(lo, hi)``, or ``(None, None)`` when no resample gave a defined value.
    """
    values = bootstrap_distribution(y_true, probs, metric, n_boot=n_boot, seed=seed)
    skipped = int(np.isnan(values).sum())
    if skipped:
        logger.debug("bootstrap_ci: %d of %d resamples undefined, skipped", skipped, values.size)
    return percentile_ci(values, alpha)


def _bootstrap_cis(
    y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int, alpha: float
) -> dict[str, list[float | None]]:
    """CIs of the headline metrics, kappa and the loss, from one shared set of resamples."""
    n, k = p.shape
    pred = p.argmax(axis=1)
    losses = classmetrics.sample_losses(y, p)
    names = metric_registry.CI
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for idx in bootstrap_resamples(n, n_boot=n_boot, seed=seed):
        w = resample_weights(idx, n)
        cms = _weighted_confusion(w, y, pred, k)
        scores = _confusion_scores(cms)
        scores["auc"] = _weighted_auc(w, y, p)
        scores["kappa_quadratic"] = _kappa_from_confusion(cms)
        scores["loss"] = classmetrics.weighted_loss(w, losses)
        for name in names:
            parts[name].append(scores[name])
    return {
        name: list(percentile_ci(np.concatenate(parts[name]) if parts[name] else np.empty(0), alpha))
        for name in names
    }


# --------------------------------------------------------------------------- summaries


def _binary_block(y: np.ndarray, score: np.ndarray, threshold: float) -> dict:
    """Sensitivity, specificity, PPV, NPV and accuracy calling ``score >= threshold`` positive.

    A ratio with an empty denominator (no positives predicted, say) is None.
    """
    called = score >= threshold
    tp = int(np.sum(called & (y == 1)))
    fp = int(np.sum(called & (y == 0)))
    tn = int(np.sum(~called & (y == 0)))
    fn = int(np.sum(~called & (y == 1)))

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        "threshold": float(threshold),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "ppv": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
        "accuracy": ratio(tp + tn, y.shape[0]),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def summarize(
    y_true,
    probs,
    *,
    class_names: Sequence[str],
    threshold: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """The full metric set of one split, JSON-serialisable (what ``metrics.json`` stores).

    Args:
        y_true: class indices, shape ``(n,)``.
        probs: class probabilities, shape ``(n, K)``.
        class_names: K names, in class-index order.
        threshold: for binary tasks, the Youden threshold chosen on the *validation* split;
            reported as ``binary.at_val_youden`` (null when None).
        n_boot: bootstrap resamples for the 95 % CIs (0 leaves every CI as [null, null]).
        seed: bootstrap seed.

    Returns:
        a dict of plain floats, ints, lists and None (undefined numbers are None, never NaN).
        ``majority_baseline_accuracy`` is the accuracy of always predicting the split's most
        frequent class. ``binary`` is None for multiclass tasks. ``loss`` is the mean cross-entropy
        ``-log p[y]`` of the probabilities (unweighted, no label smoothing: see
        :func:`reportgen.describe.classmetrics.sample_losses`); ``per_class`` adds Wilson 95 % intervals of
        precision and recall and the one-vs-rest AUC; ``confused_pairs`` lists the off-diagonal
        confusion cells, most frequent first.
    """
    y, p = check_inputs(y_true, probs)
    n, k = p.shape
    if len(class_names) != k:
        raise ValueError(f"expected {k} class names (one per probability column), got {len(class_names)}")
    pred = p.argmax(axis=1)
    cm = confusion_matrix(y, pred, k)
    scores = {name: float(v[0]) for name, v in _confusion_scores(cm[None].astype(float)).items()}
    support = cm.sum(axis=1)
    alpha = 0.05
    out = {
        "n": int(n),
        "class_names": [str(c) for c in class_names],
        "accuracy": scores["accuracy"],
        "balanced_accuracy": scores["balanced_accuracy"],
        "macro_f1": scores["macro_f1"],
        "weighted_f1": scores["weighted_f1"],
        "auc": roc_auc(y, p),
        "ece": expected_calibration_error(y, p),
        "kappa_quadratic": finite_or_none(quadratic_weighted_kappa(y, pred, k)),
        "loss": float(classmetrics.sample_losses(y, p).mean()),
        "per_class": [{**row, **cis, "auc": auc_k} for row, cis, auc_k in zip(
            per_class(cm, class_names), classmetrics.per_class_cis(cm), per_class_auc(y, p), strict=True)],
        "confused_pairs": classmetrics.confused_pairs(cm, class_names),
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": _safe_div(cm, support[:, None]).tolist(),
        "prevalence": (support / n).tolist(),
        "majority_baseline_accuracy": float(support.max() / n),
        "ci": _bootstrap_cis(y, p, n_boot=n_boot, seed=seed, alpha=alpha),
        "bootstrap": {"method": "percentile", "n_boot": int(n_boot), "seed": int(seed), "level": 1 - alpha},
        "binary": None,
    }
    if k == 2:
        out["binary"] = {
            "at_0.5": _binary_block(y, p[:, 1], 0.5),
            "at_val_youden": None if threshold is None else _binary_block(y, p[:, 1], float(threshold)),
        }
    return out


# --------------------------------------------------------------------------- the registry's kernels
# One function per metric of reportgen.registry.metrics (its ``kernel``), all ``(y_true, probs) -> float | None``,
# computed by the same code summarize uses (tests/unit/test_metric_registry.py checks they agree).


def _confusion_score(name: str, y_true, probs) -> float:
    y, p = check_inputs(y_true, probs)
    cm = confusion_matrix(y, p.argmax(axis=1), p.shape[1])
    return float(_confusion_scores(cm[None].astype(float))[name][0])


def accuracy(y_true, probs) -> float:
    return _confusion_score("accuracy", y_true, probs)


def balanced_accuracy(y_true, probs) -> float:
    return _confusion_score("balanced_accuracy", y_true, probs)


def macro_f1(y_true, probs) -> float:
    return _confusion_score("macro_f1", y_true, probs)


def weighted_f1(y_true, probs) -> float:
    return _confusion_score("weighted_f1", y_true, probs)


def kappa_quadratic(y_true, probs) -> float | None:
    y, p = check_inputs(y_true, probs)
    return finite_or_none(quadratic_weighted_kappa(y, p.argmax(axis=1), p.shape[1]))


def mean_loss(y_true, probs) -> float:
    y, p = check_inputs(y_true, probs)
    return float(classmetrics.sample_losses(y, p).mean())


def kernel(name: str) -> Callable:
    """The function that computes registry metric ``name`` from ``(y_true, probs)``."""
    return globals()[metric_registry.get(name).kernel]


def mean_sd(values) -> dict:
    """Mean and sample SD (ddof=1) of a metric over seeds; None/NaN entries are dropped.

    Returns:
        ``{"mean", "sd", "n"}``; ``sd`` is None when fewer than 2 values, ``mean`` when none.
    """
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(kept)
    arr = np.asarray(kept, dtype=float)
    return {
        "mean": float(arr.mean()) if n else None,
        "sd": float(arr.std(ddof=1)) if n >= 2 else None,
        "n": n,
    }
