"""Paired comparisons of two models evaluated on the *same* test samples.

Two cells of an experiment (fine-tune vs frozen, ResNet vs DenseNet, ...) are scored on one test
set, so their errors are correlated; unpaired tests would waste that and mis-state the
uncertainty. Every test here is paired:

* accuracy: McNemar's test on the discordant pairs, plus a paired bootstrap CI of the difference;
* AUC (binary): DeLong's test for correlated ROC curves (Sun & Xu 2014 fast algorithm);
* macro F1, and AUC for multiclass tasks: a paired bootstrap (both models on the same resamples).

Differences are always ``a - b``. ``compare_cells`` builds the comparisons a lab report needs
and applies a Holm correction across them. Torch-free: numpy and the standard library only
(scipy.special would triple the import time for four one-line formulas).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from itertools import combinations
from statistics import NormalDist

import numpy as np

from ..registry import metrics as metric_registry
from ..registry import strategies as strategy_registry
from . import metrics as M

logger = logging.getLogger(__name__)

# Below this many discordant pairs the chi-square approximation is poor; use the exact test.
MCNEMAR_EXACT_BELOW = 25
_Z975 = NormalDist().inv_cdf(0.975)


def _normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def _binomial_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Bin(n, 1/2), exact (n is small here)."""
    return sum(math.comb(n, j) for j in range(k + 1)) / 2.0**n


def _chi2_1df_sf(x: float) -> float:
    """Survival function of the chi-square distribution with 1 d.f. (the square of a normal)."""
    return math.erfc(math.sqrt(x / 2.0))


# --------------------------------------------------------------------------- McNemar


def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's test of equal accuracy for two classifiers on the same samples.

    ``b`` counts samples model a gets right and model b wrong, ``c`` the reverse. When
    ``b + c < 25`` the p-value is the exact two-sided binomial test (``min(1, 2 P(X <= min(b, c)))``
    with ``X ~ Bin(b + c, 1/2)``, statistic ``min(b, c)``, method ``"exact"``); otherwise the
    chi-square test with continuity correction (statistic ``(|b - c| - 1)^2 / (b + c)``, 1 d.f.,
    method ``"chi2_cc"``).

    Returns:
        ``{"b", "c", "statistic", "p_value", "method"}``.
    """
    a = np.asarray(correct_a, dtype=bool)
    bb = np.asarray(correct_b, dtype=bool)
    if a.shape != bb.shape or a.ndim != 1:
        raise ValueError(f"correct_a and correct_b must be 1-D of equal length, got {a.shape} and {bb.shape}")
    b = int(np.sum(a & ~bb))
    c = int(np.sum(~a & bb))
    n = b + c
    if n < MCNEMAR_EXACT_BELOW:
        k = min(b, c)
        # With no discordant pairs the two models agree everywhere: no evidence of a difference.
        p = 1.0 if n == 0 else float(min(1.0, 2.0 * _binomial_half_cdf(k, n)))
        return {"b": b, "c": c, "statistic": float(k), "p_value": p, "method": "exact"}
    stat = (abs(b - c) - 1.0) ** 2 / n
    return {
        "b": b,
        "c": c,
        "statistic": float(stat),
        "p_value": _chi2_1df_sf(stat),
        "method": "chi2_cc",
    }


# --------------------------------------------------------------------------- DeLong


def _midrank(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], xs.shape[0]]
    ranks = np.empty(x.shape[0])
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance for ``(k, n)`` scores (Sun & Xu 2014, O(k n log n)).

    The structural components V10 (per positive) and V01 (per negative) come from three
    midrankings instead of DeLong's O(m n) pairwise kernel.
    """
    pos = y == 1
    m = int(pos.sum())
    n = y.shape[0] - m
    aucs = np.empty(scores.shape[0])
    v10 = np.empty((scores.shape[0], m))
    v01 = np.empty((scores.shape[0], n))
    for r, s in enumerate(scores):
        tz = _midrank(s)
        tx = _midrank(s[pos])
        ty = _midrank(s[~pos])
        aucs[r] = (tz[pos].sum() - m * (m + 1) / 2.0) / (m * n)
        v10[r] = (tz[pos] - tx) / n
        v01[r] = 1.0 - (tz[~pos] - ty) / m
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def delong(y_true, score_a, score_b) -> dict:
    """DeLong's test for two correlated ROC AUCs (binary labels, positive class 1).

    Returns:
        ``{"method", "auc_a", "auc_b", "diff", "se", "z", "p_value", "ci"}`` with ``diff =
        auc_a - auc_b``, a two-sided normal p-value and a 95 % Wald CI ``diff +- 1.96 se``.
        When the two curves are identical (``se == 0``) z is 0 and p is 1.

    Raises:
        ValueError: when ``y_true`` is not 0/1 with both classes present (each needs 2+ samples
            for the covariance).
    """
    y = np.asarray(y_true)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("delong needs 0/1 labels")
    y = y.astype(np.int64)
    sa = np.asarray(score_a, dtype=float)
    sb = np.asarray(score_b, dtype=float)
    if sa.shape != y.shape or sb.shape != y.shape:
        raise ValueError(f"scores must match y_true's shape {y.shape}, got {sa.shape} and {sb.shape}")
    m = int(y.sum())
    if m < 2 or y.shape[0] - m < 2:
        raise ValueError(
            f"delong needs at least 2 samples of each class, got {m} positives, {y.shape[0] - m} negatives"
        )
    aucs, cov = _delong_components(y, np.vstack([sa, sb]))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    if se == 0.0:
        z, p = (0.0, 1.0) if diff == 0.0 else (None, 0.0)
    else:
        z = diff / se
        p = _normal_two_sided_p(z)
    return {
        "method": "delong",
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "value_a": float(aucs[0]),
        "value_b": float(aucs[1]),
        "diff": diff,
        "se": se,
        "z": z,
        "p_value": p,
        "ci": [diff - _Z975 * se, diff + _Z975 * se],
    }


# --------------------------------------------------------------------------- paired bootstrap


def _metric_value(metric: str | Callable, y: np.ndarray, p: np.ndarray) -> float:
    if isinstance(metric, str):
        return float(M.weighted_metric(metric, y, p, np.ones((1, y.shape[0])))[0])
    return M.call_metric(metric, y, p)


def _paired_differences(y, pa, pb, metric, *, n_boot: int, seed: int) -> np.ndarray:
    """metric(a) - metric(b) on each bootstrap resample (NaN where either is undefined)."""
    n = y.shape[0]
    parts = []
    for idx in M.bootstrap_resamples(n, n_boot=n_boot, seed=seed):
        if isinstance(metric, str):
            w = M.resample_weights(idx, n)
            parts.append(M.weighted_metric(metric, y, pa, w) - M.weighted_metric(metric, y, pb, w))
        else:
            parts.append(
                np.array(
                    [M.call_metric(metric, y[r], pa[r]) - M.call_metric(metric, y[r], pb[r]) for r in idx]
                )
            )
    return np.concatenate(parts) if parts else np.empty(0)


def paired_bootstrap(
    y_true, probs_a, probs_b, metric: str | Callable, *, n_boot: int = 2000, seed: int = 0
) -> dict:
    """Paired bootstrap of ``metric(a) - metric(b)``: both models scored on the same resamples.

    ``metric`` is a name from ``reportgen.describe.metrics.FAST_METRICS`` (vectorised) or a
    ``callable(y_true, probs) -> float``. Resamples where either value is undefined are skipped.
    The two-sided p-value is ``2 * min(P(d <= 0), P(d >= 0))`` over the bootstrap differences,
    clipped to 1 (so a distribution sitting entirely on one side of 0 gives ``p = 0``, meaning
    ``p < 1 / n_valid``).

    Returns:
        ``{"method", "value_a", "value_b", "diff", "ci", "p_value", "n_valid"}``; diff and the
        values are None when undefined on the full sample.
    """
    y, pa = M.check_inputs(y_true, probs_a)
    _, pb = M.check_inputs(y, probs_b)
    if pa.shape != pb.shape:
        raise ValueError(f"probs_a and probs_b must have the same shape, got {pa.shape} and {pb.shape}")
    va = _metric_value(metric, y, pa)
    vb = _metric_value(metric, y, pb)
    d = _paired_differences(y, pa, pb, metric, n_boot=n_boot, seed=seed)
    d = d[~np.isnan(d)]
    lo, hi = M.percentile_ci(d, 0.05)
    p = None
    if d.size:
        p = float(min(1.0, 2.0 * min(np.mean(d <= 0), np.mean(d >= 0))))
    return {
        "method": "paired_bootstrap",
        "value_a": M.finite_or_none(va),
        "value_b": M.finite_or_none(vb),
        "diff": M.finite_or_none(va - vb),
        "ci": [lo, hi],
        "p_value": p,
        "n_valid": int(d.size),
    }


# --------------------------------------------------------------------------- multiplicity


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in input order (monotone, clipped to 1).

    None entries (tests that could not be run) stay None and do not count towards m.
    """
    out: list[float | None] = [None] * len(p_values)
    defined = [(float(p), i) for i, p in enumerate(p_values) if p is not None and not math.isnan(float(p))]
    m = len(defined)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(defined)):
        # Step-down: the k-th smallest p is multiplied by (m - k + 1) and may not fall below
        # any adjusted p before it (that keeps the rejections nested).
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


# --------------------------------------------------------------------------- pairs of models


def compare_pair(y_true, probs_a, probs_b, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Accuracy, macro-F1 and AUC comparison of models a and b on one test set (diff = a - b).

    Returns:
        ``{"n", "accuracy": {...paired bootstrap CI..., "p_value" (McNemar), "mcnemar": {...}},
        "macro_f1": {paired bootstrap}, "auc": {DeLong for binary, paired bootstrap otherwise}}``,
        JSON-serialisable. An AUC that is undefined (one class in y_true) gives ``{"method":
        ..., "p_value": None, "note": ...}``.
    """
    y, pa = M.check_inputs(y_true, probs_a)
    _, pb = M.check_inputs(y, probs_b)
    if pa.shape != pb.shape:
        raise ValueError(f"probs_a and probs_b must have the same shape, got {pa.shape} and {pb.shape}")
    correct_a = pa.argmax(axis=1) == y
    correct_b = pb.argmax(axis=1) == y
    mc = mcnemar(correct_a, correct_b)
    accuracy = paired_bootstrap(y, pa, pb, "accuracy", n_boot=n_boot, seed=seed)
    accuracy.update(method="mcnemar", p_value=mc["p_value"], p_bootstrap=accuracy["p_value"], mcnemar=mc)
    return {
        "n": int(y.shape[0]),
        "accuracy": accuracy,
        "macro_f1": paired_bootstrap(y, pa, pb, "macro_f1", n_boot=n_boot, seed=seed),
        "auc": _compare_auc(y, pa, pb, n_boot=n_boot, seed=seed),
    }


def _compare_auc(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, *, n_boot: int, seed: int) -> dict:
    if pa.shape[1] > 2:
        return paired_bootstrap(y, pa, pb, "auc", n_boot=n_boot, seed=seed)
    try:
        return delong(y, pa[:, 1], pb[:, 1])
    except ValueError as exc:
        logger.warning("AUC comparison skipped: %s", exc)
        return {
            "method": "delong",
            "value_a": None,
            "value_b": None,
            "diff": None,
            "ci": [None, None],
            "p_value": None,
            "note": str(exc),
        }


COMPARED_METRICS = metric_registry.COMPARED


def _index_cells(cells: list[dict], key: tuple[str, ...], member: str) -> dict[tuple, dict[str, dict]]:
    """Group cells by ``key`` fields, then by their ``member`` field (first cell wins on repeats)."""
    groups: dict[tuple, dict[str, dict]] = {}
    for cell in cells:
        group = groups.setdefault(tuple(cell[k] for k in key), {})
        name = cell[member]
        if name in group:
            logger.warning(
                "cells %s and %s share %s; comparing only the first",
                group[name]["id"],
                cell["id"],
                dict(zip(key + (member,), tuple(cell[k] for k in key) + (name,), strict=False)),
            )
            continue
        group[name] = cell
    return groups


def _strategy_pairs(strategies: list[str]) -> list[tuple[str, str]]:
    """Every pair of strategies a reader would compare, oriented in the registry's reading order (a is the
    earlier one, so "x vs scratch" keeps scratch as b, as the pivot tables expect)."""
    return list(combinations(strategy_registry.ordered(strategies), 2))


def _same_test_set(a: dict, b: dict) -> bool:
    la, lb = np.asarray(a["labels"]), np.asarray(b["labels"])
    if la.shape == lb.shape and np.array_equal(la, lb) and np.shape(a["probs"]) == np.shape(b["probs"]):
        return True
    logger.warning(
        "not comparing %s with %s: their test labels differ (different test sets?)", a["id"], b["id"]
    )
    return False


def best_on_validation(cells: list[dict]) -> dict | None:
    """The cell with the highest validation score (``val_score``, e.g. val macro-F1) among cells whose scores
    are not degenerate (``eligible`` not False); None when no cell qualifies. The choice never looks at test."""
    pool = [c for c in cells if c.get("val_score") is not None and c.get("eligible", True)]
    return max(pool, key=lambda c: c["val_score"]) if pool else None


def compare_cells(cells: list[dict], *, n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """Every paired comparison a reader would make, Holm-corrected across all rows per metric.

    Each cell is ``{"id", "dataset", "backbone", "strategy", "seed", "labels", "probs"}`` plus, optionally,
    ``"val_score"`` and ``"eligible"``. Pairs: within each (dataset, backbone, seed) every pair of strategies
    (kind ``"strategy"``, oriented in the registry's reading order); within each (dataset, strategy, seed) every pair of
    backbones in first-seen order (kind ``"backbone"``); and, within each (dataset, seed), the cell best on
    validation against every cell not already paired with it (kind ``"best"``, differing in both backbone and
    strategy). Pairs whose label arrays differ are skipped with a warning. Every metric's ``p_adjusted`` (Holm
    over all rows) sits next to its ``p_value``.
    """
    rows: list[dict] = []
    for (dataset, backbone, cell_seed), by_strategy in _index_cells(
        cells, ("dataset", "backbone", "seed"), "strategy"
    ).items():
        for sa, sb in _strategy_pairs(list(by_strategy)):
            context = {
                "kind": "strategy",
                "dataset": dataset,
                "backbone": backbone,
                "seed": cell_seed,
                "strategy_a": sa,
                "strategy_b": sb,
            }
            rows.extend(_compare_row(by_strategy[sa], by_strategy[sb], context, n_boot=n_boot, seed=seed))
    for (dataset, strategy, cell_seed), by_backbone in _index_cells(
        cells, ("dataset", "strategy", "seed"), "backbone"
    ).items():
        for ba, bb in combinations(list(by_backbone), 2):
            context = {
                "kind": "backbone",
                "dataset": dataset,
                "strategy": strategy,
                "seed": cell_seed,
                "backbone_a": ba,
                "backbone_b": bb,
            }
            rows.extend(_compare_row(by_backbone[ba], by_backbone[bb], context, n_boot=n_boot, seed=seed))
    groups: dict[tuple, list[dict]] = {}
    for cell in cells:
        groups.setdefault((cell["dataset"], cell["seed"]), []).append(cell)
    for (dataset, cell_seed), group in groups.items():
        best = best_on_validation(group)
        if best is None:
            continue
        for other in group:
            if other["backbone"] == best["backbone"] or other["strategy"] == best["strategy"]:
                continue  # already a strategy or backbone pair above
            context = {"kind": "best", "dataset": dataset, "seed": cell_seed, "backbone_a": best["backbone"],
                       "strategy_a": best["strategy"], "backbone_b": other["backbone"],
                       "strategy_b": other["strategy"]}
            rows.extend(_compare_row(best, other, context, n_boot=n_boot, seed=seed))
    for metric in COMPARED_METRICS:
        adjusted = holm([row[metric]["p_value"] for row in rows])
        for row, p_adj in zip(rows, adjusted, strict=False):
            row[metric]["p_adjusted"] = p_adj
    return rows


def _compare_row(a: dict, b: dict, context: dict, *, n_boot: int, seed: int) -> list[dict]:
    """One comparison row (a list of 0 or 1, so callers can ``extend``)."""
    if not _same_test_set(a, b):
        return []
    result = compare_pair(a["labels"], a["probs"], b["probs"], n_boot=n_boot, seed=seed)
    return [{"a": a["id"], "b": b["id"], **context, **result}]
