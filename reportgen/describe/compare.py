"""Which pairs of cells a lab report compares, each with the paired tests of :mod:`pairedtests`.

``compare_cells`` builds every comparison a reader would make (strategy pairs per backbone, backbone pairs
per strategy, the cell best on validation against every other) and applies a Holm correction across them.
Rows are plain dicts here (the unit tests' currency); :mod:`description` turns them into typed
:class:`reportgen.describe.model.Comparison` rows. The tests themselves are re-exported from
:mod:`pairedtests` for callers that import them from here. Torch-free.
"""

from __future__ import annotations

import logging
from itertools import combinations

import numpy as np

from ..registry import strategies as strategy_registry
from .model import COMPARED_METRICS
from .pairedtests import compare_pair, delong, holm, mcnemar, paired_bootstrap

__all__ = ["COMPARED_METRICS", "best_on_validation", "compare_cells", "compare_pair", "delong", "holm", "mcnemar",
           "paired_bootstrap"]

logger = logging.getLogger(__name__)


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
