"""Which test images the report explains: the most confident mistakes, and a fixed Grad-CAM set.

Torch-free (numpy only). Both work on the predictions *as stored* (``predictions_test.csv`` read
back), so the gallery's "true → predicted, confidence" are the numbers every metric was computed from.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..store import Predictions


def confident_mistakes(pred: Predictions, k: int) -> list[int]:
    """Positions of the ``k`` wrong test predictions with the highest probability for the (wrong) predicted class.

    The predicted class is ``argmax`` (as in :mod:`reportgen.describe.metrics`); ties in confidence go to the
    earlier position, so the choice is reproducible.
    """
    predicted = pred.probs.argmax(axis=1)
    confidence = pred.probs[np.arange(len(predicted)), predicted]
    wrong = np.flatnonzero(predicted != pred.labels)
    order = sorted(wrong.tolist(), key=lambda i: (-confidence[i], i))
    return order[:k]


def _rank(sample_id: str) -> str:
    return hashlib.sha256(sample_id.encode("utf-8")).hexdigest()


def fixed_sample(sample_ids: list[str], labels: np.ndarray, *, per_class: int, num_classes: int) -> list[int]:
    """Per class, the first ``per_class`` test images in the order of a hash of their sample id.

    It depends on the test split's ids and labels only — never on a model — so every cell of a dataset
    (fine-tune, frozen, warm-up, scratch, any seed) explains the same images, side by side.
    """
    chosen: list[int] = []
    for c in range(num_classes):
        members = [i for i in range(len(sample_ids)) if int(labels[i]) == c]
        chosen += sorted(members, key=lambda i: _rank(sample_ids[i]))[:per_class]
    return chosen
