"""Per-class and per-sample kernels for ``metrics.summarize``: loss, Wilson CIs, confused pairs.

Split out of :mod:`reportgen.describe.metrics` (aggregate scores and the bootstrap) so each module keeps one job;
``summarize`` is still the one function that calls these for the store, and the report's tables and
figures read what it stored. Torch-free and scikit-learn-free, like :mod:`reportgen.describe.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# sklearn.metrics.log_loss clips probabilities to [eps, 1 - eps] with the dtype's machine epsilon, so a
# probability of exactly 0 for the true class costs -log(2.2e-16) ≈ 36 instead of infinity.
LOSS_EPS = float(np.finfo(np.float64).eps)
# z of the two-sided 95 % normal interval (the level of every CI in the store).
Z95 = 1.959963984540054


def sample_losses(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Cross-entropy of each sample, ``-log p[y]``, with p clipped as scikit-learn's ``log_loss`` does.

    This is the training loop's loss (``F.cross_entropy`` on the logits, or BCE on one logit) when the
    loss has no class weights and no label smoothing: both equal ``-log softmax(logits)[y]``.
    """
    p_true = probs[np.arange(y.shape[0]), y]
    return -np.log(np.clip(p_true, LOSS_EPS, 1.0 - LOSS_EPS))


def weighted_loss(weights: np.ndarray, per_sample: np.ndarray) -> np.ndarray:
    """Mean per-sample loss of each ``(B, n)`` resample-weight row (all ones = the plain mean)."""
    return weights @ per_sample / weights.sum(axis=1)


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion ``successes / trials``; (None, None) when trials == 0.

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not zero-width at 0 % or 100 %,
    which is what a class with 8 test images needs.
    """
    if trials <= 0:
        return None, None
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def per_class_cis(cm: np.ndarray) -> list[dict[str, tuple[float | None, float | None]]]:
    """Wilson 95 % intervals of each class's recall (over its support) and precision (over its predictions)."""
    tp = np.diagonal(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    return [{"recall_ci": wilson_interval(int(tp[k]), int(support[k])),
             "precision_ci": wilson_interval(int(tp[k]), int(predicted[k]))} for k in range(cm.shape[0])]


def confused_pairs(cm: np.ndarray, class_names: Sequence[str]) -> list[dict]:
    """Every off-diagonal cell with at least one sample: true → predicted, count and share of the true class.

    Sorted by count (descending), then share (descending), then true and predicted class index, so the
    order is total and the same on every run.
    """
    support = cm.sum(axis=1)
    pairs = []
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if i != j and cm[i, j] > 0:
                pairs.append({"true": str(class_names[i]), "predicted": str(class_names[j]),
                              "count": int(cm[i, j]), "share": float(cm[i, j] / support[i]), "_key": (i, j)})
    pairs.sort(key=lambda p: (-p["count"], -p["share"], p["_key"]))
    for p in pairs:
        del p["_key"]
    return pairs
