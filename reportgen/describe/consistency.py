"""One truth: every headline number in the store, recomputed from the stored predictions.

The runner scores a cell with :func:`score_cell` on the predictions *as read back from disk*, and
``reportgen check`` / ``render`` call the same function again and compare. Any disagreement (a
hand-edited probability, a metrics file from another version, a truncated predictions file) stops
with exit 2 naming the cell, the metric and both values — a report never ships two different
numbers for the same thing. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..registry import metrics as metric_registry
from ..store import CellResult, Predictions, RunResults
from ..store.schema import HEADLINE, MetricsRecord, SplitMetrics
from . import metrics
from .model import Comparison

# Same kernel, same inputs: anything above float noise is a real disagreement.
TOLERANCE = 1e-9
CHECKED = metric_registry.NAMES + ("n", "majority_baseline_accuracy")
PER_CLASS = ("precision", "recall", "f1", "support", "auc")


def score_split(pred: Predictions, *, classes: list[str], seed: int, threshold: float | None = None,
                n_boot: int = 1000) -> SplitMetrics:
    return SplitMetrics.model_validate(metrics.summarize(pred.labels, pred.probs, class_names=classes,
                                                         threshold=threshold, seed=seed, n_boot=n_boot))


def val_threshold(val: Predictions, k: int) -> float | None:
    """The binary decision threshold chosen on validation (Youden's J), applied to test as a second rule."""
    return metrics.youden_threshold(val.labels, val.probs[:, 1]) if k == 2 else None


def score_cell(val: Predictions, test: Predictions, *, classes: list[str], seed: int,
               n_boot: int = 1000) -> MetricsRecord:
    """metrics.json for one cell: validation and test scored from their stored predictions."""
    return MetricsRecord(val=score_split(val, classes=classes, seed=seed, n_boot=n_boot),
                         test=score_split(test, classes=classes, seed=seed, n_boot=n_boot,
                                          threshold=val_threshold(val, len(classes))))


@dataclass(frozen=True)
class Mismatch:
    cell_id: str
    where: str  # "metrics.json test.auc", "result.json test.accuracy", ...
    stored: Any
    recomputed: Any

    def __str__(self) -> str:
        return f"{self.cell_id}: {self.where} is {self.stored!r} in the store but {self.recomputed!r} " \
               f"recomputed from its predictions"


def _differs(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(float(a) - float(b)) > TOLERANCE


def check_cell(cell: CellResult) -> list[Mismatch]:
    """Recompute the cell's val/test point metrics (no bootstrap) and compare with metrics.json and result.json."""
    out: list[Mismatch] = []
    val, test = cell.predictions("val"), cell.predictions("test")
    classes = cell.cell.classes
    thr = val_threshold(val, len(classes))
    for split, pred, stored in (("val", val, cell.metrics.val), ("test", test, cell.metrics.test)):
        fresh = score_split(pred, classes=classes, seed=cell.cell.seed, n_boot=0,
                            threshold=thr if split == "test" else None)
        for name in CHECKED:
            if _differs(getattr(stored, name), getattr(fresh, name)):
                out.append(Mismatch(cell.id, f"metrics.json {split}.{name}", getattr(stored, name),
                                    getattr(fresh, name)))
        if stored.confusion_matrix != fresh.confusion_matrix:
            out.append(Mismatch(cell.id, f"metrics.json {split}.confusion_matrix", stored.confusion_matrix,
                                fresh.confusion_matrix))
        for a, b in zip(stored.per_class, fresh.per_class, strict=False):
            for name in PER_CLASS:
                if _differs(getattr(a, name), getattr(b, name)):
                    out.append(Mismatch(cell.id, f"metrics.json {split}.per_class[{a.name}].{name}",
                                        getattr(a, name), getattr(b, name)))
            for name in ("precision_ci", "recall_ci"):
                if any(_differs(x, y) for x, y in zip(getattr(a, name), getattr(b, name), strict=True)):
                    out.append(Mismatch(cell.id, f"metrics.json {split}.per_class[{a.name}].{name}",
                                        getattr(a, name), getattr(b, name)))
        if [p.model_dump() for p in stored.confused_pairs] != [p.model_dump() for p in fresh.confused_pairs]:
            out.append(Mismatch(cell.id, f"metrics.json {split}.confused_pairs",
                                [(p.true, p.predicted, p.count) for p in stored.confused_pairs[:3]],
                                [(p.true, p.predicted, p.count) for p in fresh.confused_pairs[:3]]))
        for rule in ("at_0.5", "at_val_youden"):
            sa = (stored.binary or {}).get(rule)
            fb = (fresh.binary or {}).get(rule)
            if (sa is None) != (fb is None):
                out.append(Mismatch(cell.id, f"metrics.json {split}.binary.{rule}", sa, fb))
            elif sa is not None and fb is not None:
                for name in ("threshold", "sensitivity", "specificity", "tp", "fp", "tn", "fn"):
                    if _differs(getattr(sa, name), getattr(fb, name)):
                        out.append(Mismatch(cell.id, f"metrics.json {split}.binary.{rule}.{name}",
                                            getattr(sa, name), getattr(fb, name)))
    for name in HEADLINE:
        if _differs(cell.result.test.get(name), getattr(cell.metrics.test, name)):
            out.append(Mismatch(cell.id, f"result.json test.{name}", cell.result.test.get(name),
                                getattr(cell.metrics.test, name)))
    if len(test.labels) != cell.metrics.test.n:
        out.append(Mismatch(cell.id, "predictions_test.csv rows", len(test.labels), cell.metrics.test.n))
    return out


def check_comparisons(run: RunResults, rows: Sequence[Comparison]) -> list[Mismatch]:
    """Every paired comparison's per-cell values must be the cells' own metrics."""
    by_id = {c.id: c for c in run.cells}
    out = []
    for row in rows:
        for side in ("a", "b"):
            cell = by_id.get(getattr(row, side))
            if cell is None:
                continue
            for metric in metric_registry.COMPARED:
                part = getattr(row, metric)
                stored = getattr(part, f"value_{side}")
                if f"value_{side}" in part.model_fields_set and _differs(stored, getattr(cell.test, metric)):
                    out.append(Mismatch(cell.id, f"analysis/comparisons.json {metric} value_{side}",
                                        stored, getattr(cell.test, metric)))
    return out


def check_run(run: RunResults, comparisons: Sequence[Comparison] = ()) -> list[Mismatch]:
    out = [m for c in run.cells for m in check_cell(c)]
    if comparisons:
        out += check_comparisons(run, comparisons)
    return out
