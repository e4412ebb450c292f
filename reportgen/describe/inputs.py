"""Input checks shared by the metric kernels: labels and probabilities as numpy arrays, finite-or-None."""

from __future__ import annotations

import math

import numpy as np

# --------------------------------------------------------------------------- input checks


def _check_labels(y_true, n_classes: int) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D class indices, got shape {y.shape}")
    # Labels read back from CSV may arrive as floats; accept 1.0 but not 0.5 (or NaN).
    integral = np.issubdtype(y.dtype, np.integer) or bool(np.all(np.mod(y, 1) == 0))
    if not integral:
        raise ValueError("y_true must hold integer class indices, got non-integer values")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y_true must be in 0..{n_classes - 1}, got values in {y.min()}..{y.max()}")
    return y


def check_inputs(y_true, probs) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n, K) with K >= 2, got {p.shape}")
    y = _check_labels(y_true, p.shape[1])
    if y.shape[0] != p.shape[0]:
        raise ValueError(f"y_true and probs must have the same length, got {y.shape[0]} and {p.shape[0]}")
    if y.shape[0] == 0:
        raise ValueError("no samples: y_true is empty")
    return y, p


def _binary_inputs(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    y = _check_labels(y_true, 2)
    s = np.asarray(score, dtype=float)
    if s.shape != y.shape:
        raise ValueError(f"score must have the same shape as y_true, got {s.shape} and {y.shape}")
    return y, s


def finite_or_none(x) -> float | None:
    """A plain float for JSON, or None where the number is undefined (NaN / inf / None)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 where den == 0 (the scikit-learn ``zero_division=0`` convention)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out
