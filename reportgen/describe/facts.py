"""What a claim may rest on, per cell and per pair of cells, read two ways with one interface.

``StoredFacts`` reads the store's derived files (metrics.json, analysis/comparisons.json): the numbers
the report prints. ``FreshFacts`` recomputes the same quantities from predictions_*.csv with the same
kernels (:func:`reportgen.describe.consistency.score_split`, :func:`reportgen.describe.compare.compare_cells`). A claim is
written from the first and verified on the second, so a hand-edited prediction that flips a sentence's
condition is caught even where no stored number was re-checked. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..store import CellResult, Predictions, RunResults
from ..store.schema import SplitMetrics
from .checks import COLLAPSE_SCORE_RANGE, DEGENERATE_SPREAD

# Scores whose spread is below numeric resolution carry no ranking: AUC, ROC and thresholds are noise.
MIN_DISTINCT_SCORES = 3


def score_spread(probs: np.ndarray) -> tuple[float, int]:
    """(largest per-class max − min of the scores, distinct values of the positive/first-class score)."""
    if probs.shape[0] == 0:
        return 0.0, 0
    spread = float((probs.max(axis=0) - probs.min(axis=0)).max())
    col = probs[:, 1] if probs.shape[1] == 2 else probs.max(axis=1)
    return spread, int(np.unique(col).size)


def is_degenerate(spread: float, distinct: int) -> bool:
    return spread < DEGENERATE_SPREAD or distinct < MIN_DISTINCT_SCORES


@dataclass(frozen=True)
class CellFacts:
    id: str
    dataset: str
    backbone: str
    strategy: str
    seed: int
    classes: list[str]
    n: int
    accuracy: float
    macro_f1: float
    macro_f1_ci: tuple[float | None, float | None]
    auc: float | None
    val_macro_f1: float
    majority_rate: float
    confusion: list[list[int]]
    spread: float
    distinct: int

    @property
    def degenerate(self) -> bool:
        return is_degenerate(self.spread, self.distinct)

    @property
    def predicted(self) -> list[int]:
        return [sum(row[k] for row in self.confusion) for k in range(len(self.confusion))]

    @property
    def true(self) -> list[int]:
        return [sum(row) for row in self.confusion]

    @property
    def collapsed(self) -> bool:
        """One class for every test image, or scores that do not vary (the validity check's definition)."""
        return max(self.predicted, default=0) == self.n or self.spread < COLLAPSE_SCORE_RANGE


def _cell_facts(c: CellResult, test: SplitMetrics, val: SplitMetrics, pred: Predictions) -> CellFacts:
    spread, distinct = score_spread(pred.probs)
    ci = test.ci_of("macro_f1") or (None, None)
    return CellFacts(id=c.id, dataset=c.cell.dataset, backbone=c.cell.backbone, strategy=c.cell.strategy,
                     seed=c.cell.seed, classes=list(c.cell.classes), n=test.n, accuracy=test.accuracy,
                     macro_f1=test.macro_f1, macro_f1_ci=(ci[0], ci[1]), auc=test.auc, val_macro_f1=val.macro_f1,
                     majority_rate=test.majority_baseline_accuracy, confusion=test.confusion_matrix,
                     spread=spread, distinct=distinct)


class Facts:
    """Common lookups; subclasses say where the per-cell metrics and the paired comparisons come from."""

    def __init__(self, run: RunResults) -> None:
        self.run = run
        self.by_id = {c.id: c for c in run.cells}

    def cell(self, cid: str) -> CellFacts:
        return self.cells_[cid]

    @cached_property
    def cells_(self) -> dict[str, CellFacts]:
        return {c.id: self._cell(c) for c in self.run.cells}

    def _cell(self, c: CellResult) -> CellFacts:
        raise NotImplementedError

    def rows(self) -> list[dict]:
        raise NotImplementedError

    def pair(self, a: str, b: str) -> dict | None:
        """The comparison row of cells a and b (oriented a − b; a swapped row is flipped)."""
        for row in self.rows():
            if (row.get("a"), row.get("b")) == (a, b):
                return row
            if (row.get("a"), row.get("b")) == (b, a):
                return _flipped(row)
        return None

    def budget(self, cid: str) -> dict[str, Any]:
        """What a cell was trained with that a fair comparison must hold equal (from cell.json / result.json)."""
        c = self.by_id[cid]
        train = c.cell.train
        return {"epochs": c.result.epochs_run, "lr": train.lr, "augment": str(train.augment),
                "class_weighted": bool(train.class_weighted_loss)}


def _flipped(row: dict) -> dict:
    out = dict(row, a=row["b"], b=row["a"])
    for metric in ("accuracy", "macro_f1", "auc"):
        part = dict(row.get(metric) or {})
        if part.get("diff") is not None:
            part["diff"] = -part["diff"]
        ci = part.get("ci") or [None, None]
        part["ci"] = [None if ci[1] is None else -ci[1], None if ci[0] is None else -ci[0]]
        part["value_a"], part["value_b"] = part.get("value_b"), part.get("value_a")
        out[metric] = part
    return out


class StoredFacts(Facts):
    """The numbers as the report shows them: metrics.json and analysis/comparisons.json."""

    def __init__(self, run: RunResults, comparisons: list[dict]) -> None:
        super().__init__(run)
        self._rows = comparisons

    def _cell(self, c: CellResult) -> CellFacts:
        return _cell_facts(c, c.metrics.test, c.metrics.val, c.predictions("test"))

    def rows(self) -> list[dict]:
        return self._rows


class FreshFacts(Facts):
    """The same quantities recomputed from predictions_val.csv / predictions_test.csv."""

    def _cell(self, c: CellResult) -> CellFacts:
        from .consistency import score_split, val_threshold

        val, test = c.predictions("val"), c.predictions("test")
        classes = list(c.cell.classes)
        fresh_val = score_split(val, classes=classes, seed=c.cell.seed, n_boot=0)
        fresh_test = score_split(test, classes=classes, seed=c.cell.seed, n_boot=0,
                                 threshold=val_threshold(val, len(classes)))
        # The CI needs the bootstrap; the stored one is kept (the number gate checks the point values).
        fresh_test = fresh_test.model_copy(update={"ci": c.metrics.test.ci})
        return _cell_facts(c, fresh_test, fresh_val, test)

    @cached_property
    def _rows(self) -> list[dict]:
        from .compare import compare_cells

        cells = comparison_inputs(self.run, self)
        return compare_cells(cells) if len(cells) > 1 else []

    def rows(self) -> list[dict]:
        return self._rows


def comparison_inputs(run: RunResults, facts: Facts) -> list[dict]:
    """The cells as :func:`reportgen.describe.compare.compare_cells` takes them: test labels and probabilities, the
    validation macro-F1 that picks the best cell, and whether a cell may be picked (not collapsed)."""
    out = []
    for c in run.cells:
        pred = c.predictions("test")
        f = facts.cell(c.id)
        out.append({"id": c.id, "dataset": c.cell.dataset, "backbone": c.cell.backbone, "strategy": c.cell.strategy,
                    "seed": c.cell.seed, "labels": pred.labels, "probs": pred.probs, "val_score": f.val_macro_f1,
                    "eligible": not f.collapsed})
    return out
