"""What a claim may rest on, per cell and per pair of cells, read two ways with one interface.

``StoredFacts`` reads the store's derived files (metrics.json, analysis/comparisons.json): the numbers
the report prints. ``FreshFacts`` recomputes the same quantities from predictions_*.csv with the same
kernels (:func:`reportgen.describe.consistency.score_split`, :func:`reportgen.describe.compare.compare_cells`). A claim is
written from the first and verified on the second, so a hand-edited prediction that flips a sentence's
condition is caught even where no stored number was re-checked. Torch-free.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np

from ..store import CellResult, Predictions, RunResults
from ..store.schema import Finding, MetricsRecord, SplitMetrics
from .checks import run_checks
from .compare import compare_cells
from .consistency import score_split, val_threshold
from .model import CellFacts, Comparison, score_degenerate
from .seeds import config_key

__all__ = ["CellFacts", "Facts", "FreshFacts", "StoredFacts", "comparison_inputs", "is_degenerate", "score_spread"]


def score_spread(probs: np.ndarray) -> tuple[float, int]:
    """(largest per-class max − min of the scores, distinct values of the positive/first-class score)."""
    if probs.shape[0] == 0:
        return 0.0, 0
    spread = float((probs.max(axis=0) - probs.min(axis=0)).max())
    col = probs[:, 1] if probs.shape[1] == 2 else probs.max(axis=1)
    return spread, int(np.unique(col).size)


def is_degenerate(spread: float, distinct: int) -> bool:
    return score_degenerate(spread, distinct)


def _cell_facts(c: CellResult, test: SplitMetrics, val: SplitMetrics, pred: Predictions) -> CellFacts:
    spread, distinct = score_spread(pred.probs)
    ci = test.ci_of("macro_f1") or (None, None)
    auc_ci = test.ci_of("auc") or (None, None)
    return CellFacts(id=c.id, dataset=c.cell.dataset, backbone=c.cell.backbone, strategy=c.cell.strategy,
                     seed=c.cell.seed, classes=list(c.cell.classes), n=test.n, accuracy=test.accuracy,
                     macro_f1=test.macro_f1, macro_f1_ci=(ci[0], ci[1]), auc=test.auc, val_macro_f1=val.macro_f1,
                     majority_rate=test.majority_baseline_accuracy, confusion=test.confusion_matrix,
                     spread=spread, distinct=distinct, config=config_key(c),
                     auc_ci=(auc_ci[0], auc_ci[1]))


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

    def rows(self) -> list[Comparison]:
        raise NotImplementedError

    @cached_property
    def findings(self) -> list[Finding]:
        """The validity findings of the run these facts read (reportgen.describe.checks.run_checks)."""
        return run_checks(self.run)

    def pair(self, a: str, b: str) -> Comparison | None:
        """The comparison of cells a and b (oriented a − b; a swapped row is flipped)."""
        for row in self.rows():
            if (row.a, row.b) == (a, b):
                return row
            if (row.a, row.b) == (b, a):
                return row.flipped()
        return None

    def budget(self, cid: str) -> dict[str, Any]:
        """What a cell was trained with that a fair comparison must hold equal (from cell.json / result.json)."""
        c = self.by_id[cid]
        train = c.cell.train
        return {"epochs": c.result.epochs_run, "lr": train.lr, "augment": str(train.augment),
                "class_weighted": bool(train.class_weighted_loss)}


class StoredFacts(Facts):
    """The numbers as the report shows them: metrics.json and analysis/comparisons.json."""

    def __init__(self, run: RunResults, comparisons: list[Comparison] | None = None,
                 findings: list[Finding] | None = None) -> None:
        super().__init__(run)
        self._rows = list(comparisons or [])
        if findings is not None:  # computed once by the description step, not again here
            self.__dict__["findings"] = list(findings)

    def _cell(self, c: CellResult) -> CellFacts:
        return _cell_facts(c, c.metrics.test, c.metrics.val, c.predictions("test"))

    def rows(self) -> list[Comparison]:
        return self._rows

    def with_rows(self, comparisons: list[Comparison]) -> None:
        """The comparisons, once computed from these same facts (their inputs: :func:`comparison_inputs`)."""
        self._rows = list(comparisons)


class FreshFacts(Facts):
    """The same quantities recomputed from predictions_val.csv / predictions_test.csv."""

    @cached_property
    def fresh_metrics(self) -> dict[str, MetricsRecord]:
        """Every cell's val/test metrics scored again from its stored predictions (point values; the test CI,
        which needs the bootstrap, is the stored one: the number gate checks the point values)."""
        out = {}
        for c in self.run.cells:
            val, test = c.predictions("val"), c.predictions("test")
            classes = list(c.cell.classes)
            fresh_val = score_split(val, classes=classes, seed=c.cell.seed, n_boot=0)
            fresh_test = score_split(test, classes=classes, seed=c.cell.seed, n_boot=0,
                                     threshold=val_threshold(val, len(classes)))
            out[c.id] = MetricsRecord(val=fresh_val, test=fresh_test.model_copy(update={"ci": c.metrics.test.ci}))
        return out

    def _cell(self, c: CellResult) -> CellFacts:
        m = self.fresh_metrics[c.id]
        return _cell_facts(c, m.test, m.val, c.predictions("test"))

    @cached_property
    def findings(self) -> list[Finding]:
        """The validity checks run again on the recomputed metrics, so a finding the stored predictions no
        longer support (or one they now raise) is told apart from the stored list."""
        cells = [replace(c, metrics=self.fresh_metrics[c.id]) for c in self.run.cells]
        return run_checks(replace(self.run, cells=cells))

    @cached_property
    def _rows(self) -> list[Comparison]:
        return compare(self.run, self)

    def rows(self) -> list[Comparison]:
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


def compare(run: RunResults, facts: Facts) -> list[Comparison]:
    """Every paired comparison of the run's cells (reportgen.describe.compare.compare_cells), typed."""
    cells = comparison_inputs(run, facts)
    return [Comparison.model_validate(row) for row in compare_cells(cells)] if len(cells) > 1 else []
