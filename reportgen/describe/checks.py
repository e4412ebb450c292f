"""Validity findings: the things that make a lab report's numbers mean less than they seem.

Each finding is data — a :class:`reportgen.store.schema.Finding` (``id``, ``severity``, ``scope``, ``evidence``) —
computed from the results store alone; this module never imports torch (``render`` runs it) nor the
message catalogs: the report words a finding in each language (``reportgen.report.wording``) from
``reportgen/i18n/checks.<lang>.json``, whose placeholders ``evidence`` and ``scope`` fill.

Adding a check is one function appended to :data:`DATASET_CHECKS` (takes ``datasets/<name>.json`` facts)
or :data:`CELL_CHECKS` (takes one finished cell and its dataset's facts).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..published.baselines import check_published  # needs run.json's dataset specs, not one cell's facts
from ..store import CellResult, RunResults
from ..store.schema import DatasetFacts, Finding

# The dataset checks live in datachecks (this module would pass 400 lines); their names are re-exported here.
from .datachecks import (  # noqa: F401
    DATASET_CHECKS,
    IMBALANCE_SHARE,
    SEVERITIES,
    SHIFT_TVD,
    VAL_HIGH_N,
    VAL_WARN_N,
    check_class_shift,
    check_duplicates,
    check_group_overlap,
    check_imbalance,
    check_small_val,
    class_shares,
    finding,
    majority_baseline,
    split_shift,
    total_variation,
)
from .datachecks import RANK as _RANK
from .thresholds import COLLAPSE_SCORE_RANGE, DEGENERATE_SPREAD

log = logging.getLogger(__name__)

# Thresholds of the cell checks, in one place so the report can quote them.
BASELINE_MARGIN = 0.02  # "within 2 points" of always predicting the majority class
MIN_EPOCHS_FOR_BEST_EPOCH = 3
TRAIN_TEST_GAP = 0.10
MACS_META_RANGE = (0.9, 1.1)
MACS_TOOLS_REL_DIFF = 0.20


# --------------------------------------------------------------------------- cell checks
def _scope(cell: CellResult) -> dict[str, Any]:
    c = cell.cell
    return {"dataset": c.dataset, "cell_id": c.id, "backbone": c.backbone, "strategy": c.strategy, "seed": c.seed}


def _test_metric(cell: CellResult, name: str) -> float | None:
    return getattr(cell.metrics.test, name)


def check_collapsed(cell: CellResult, facts: DatasetFacts | None) -> list[Finding]:
    """Test predictions that are one class for every image, or scores that do not vary: the model
    did not learn a decision, so "X beats Y by N points" against it says nothing about X."""
    pred = cell.predictions("test")
    called = pred.probs.argmax(axis=1)
    spread = float((pred.probs.max(axis=0) - pred.probs.min(axis=0)).max()) if len(called) else 0.0
    counts = [int((called == k).sum()) for k in range(pred.probs.shape[1])]
    top = max(range(len(counts)), key=lambda k: counts[k])
    if counts[top] < len(called) and spread >= COLLAPSE_SCORE_RANGE:
        return []
    m = cell.metrics.test
    youden = (m.binary or {}).get("at_val_youden")
    return [finding("collapsed", "high", scope=_scope(cell), evidence={
        "predicted_class": cell.cell.classes[top] if top < len(cell.cell.classes) else str(top),
        "score_range": spread, "constant_scores": spread < COLLAPSE_SCORE_RANGE, "accuracy": m.accuracy,
        "majority_rate": m.majority_baseline_accuracy, "auc": m.auc,
        "youden_sensitivity": youden.sensitivity if youden else None,
        "youden_specificity": youden.specificity if youden else None,
        "val_macro_f1_constant": len({round(r.val_macro_f1, 12) for r in cell.epochs}) == 1,
        # Scores below numeric resolution: the advice must not point at an AUC or threshold they do not have.
        "variant_fix": "degenerate" if spread < DEGENERATE_SPREAD else ""})]


OVER_PREDICTED = 1.5  # a class predicted this many times as often as it occurs is worth a finding


def over_predicted(cm: list[list[int]], classes: list[str]) -> dict[str, Any] | None:
    """The class predicted most often beyond its true count (from the confusion matrix): "predicted X N times
    for M true cases, precision P". None when no class is predicted at least OVER_PREDICTED times as often as it occurs."""
    k = len(cm)
    predicted = [sum(row[j] for row in cm) for j in range(k)]
    true = [sum(row) for row in cm]
    j = max(range(k), key=lambda i: predicted[i] - true[i]) if k else 0
    if not k or predicted[j] < OVER_PREDICTED * max(true[j], 1):
        return None
    return {"over_class": classes[j] if j < len(classes) else str(j), "over_predicted": predicted[j],
            "over_true": true[j], "over_precision": cm[j][j] / predicted[j] if predicted[j] else 0.0}


def check_majority_baseline(cell: CellResult, facts: DatasetFacts | None) -> list[Finding]:
    """Test accuracy at or below, or within 2 points above, always predicting the majority class; which class the
    model over-predicts when the confusion matrix shows one."""
    base = majority_baseline(facts)
    acc = _test_metric(cell, "accuracy")
    if base is None or acc is None or acc > base["baseline_acc"] + BASELINE_MARGIN or _one_class(cell):
        return []  # a cell that answers one class everywhere is the collapsed finding's, told once
    margin = acc - base["baseline_acc"]
    evidence: dict[str, Any] = {"accuracy": acc, "baseline_acc": base["baseline_acc"], "margin_pts": 100 * margin,
                                "abs_margin_pts": abs(100 * margin), "majority_class": base["majority_class"],
                                "baseline_macro_f1": base["baseline_macro_f1"]}
    over = over_predicted(cell.metrics.test.confusion_matrix, list(cell.cell.classes))
    weighted = bool(cell.cell.train.class_weighted_loss) or bool(cell.result.class_weights)
    evidence["variant_fix"] = "weighted" if weighted else ""
    check_id = "near_majority_baseline" if margin > 0 else "below_majority_baseline"
    out = [finding(check_id, "high", scope=_scope(cell), evidence=evidence)]
    if over:
        out.append(finding("over_predicted", "warning", scope=_scope(cell), evidence=over))
    return out


def _one_class(cell: CellResult) -> bool:
    cm = cell.metrics.test.confusion_matrix
    return sum(1 for j in range(len(cm)) if sum(row[j] for row in cm)) <= 1


def check_best_epoch(cell: CellResult, facts: DatasetFacts | None) -> list[Finding]:
    """Best epoch at the very end (not converged) or at the very start — said from the epoch log: when the
    selection metric tied at every epoch, "best at epoch 1" is the tie rule, not evidence of overfitting."""
    best, run = cell.result.best_epoch, cell.result.epochs_run
    if run < MIN_EPOCHS_FOR_BEST_EPOCH:
        return []
    metric = cell.result.selection_metric
    series = [getattr(r, metric, None) for r in cell.epochs]
    evidence: dict[str, Any] = {"best_epoch": best, "epochs_run": run, "selection_metric": metric,
                                "variant_fix": "scratch" if cell.cell.strategy == "scratch" else ""}
    if best == run and not cell.result.stopped_early:
        return [finding("best_epoch_last", "warning", scope=_scope(cell), evidence=evidence)]
    if best == 1:
        values = [v for v in series if v is not None]
        if values and max(values) - min(values) <= 1e-12:
            other = "val_auc" if metric != "val_auc" else "val_macro_f1"
            trail = [getattr(r, other, None) for r in cell.epochs]
            evidence.update(value=values[0], other_metric=other, other_first=_num(trail[0] if trail else None),
                            other_last=_num(trail[-1] if trail else None))
            if evidence["other_first"] == evidence["other_last"]:  # nothing moved: no "later epochs were not worse"
                evidence["variant_detail"] = "flat"
            return [finding("selection_tied", "warning", scope=_scope(cell), evidence=evidence)]
        evidence.update(best_value=_num(values[0] if values else None), last_value=_num(values[-1] if values else None))
        return [finding("best_epoch_first", "warning", scope=_scope(cell), evidence=evidence)]
    return []


def _num(x: float | None) -> str:
    """An epoch-log value as the per-epoch table shows it (3 decimals; "—" when undefined)."""
    return "—" if x is None else f"{x:.3f}"


def check_train_test_gap(cell: CellResult, facts: DatasetFacts | None) -> list[Finding]:
    """Training accuracy at the best epoch more than 10 points above test accuracy (not said of a collapsed cell,
    whose test accuracy is the share of one class: the collapsed finding explains it)."""
    if _one_class(cell):
        return []
    best = cell.result.best_epoch
    row = next((r for r in cell.epochs if r.epoch == best), None)
    train_acc = row.train_acc if row else None
    test_acc = _test_metric(cell, "accuracy")
    if train_acc is None or test_acc is None or train_acc - test_acc <= TRAIN_TEST_GAP:
        return []
    return [finding("train_test_gap", "warning", scope=_scope(cell),
                    evidence={"best_epoch": best, "train_acc": train_acc, "test_acc": test_acc,
                              "gap_pts": 100 * (train_acc - test_acc)})]


def check_frozen_bn_drift(cell: CellResult, facts: DatasetFacts | None) -> list[Finding]:
    """A frozen backbone whose BatchNorm running statistics changed during training."""
    drift = cell.result.frozen_bn_drift
    if drift is None or drift <= 0:
        return []
    return [finding("frozen_bn_drift", "high", scope=_scope(cell),
                    evidence={"drift": drift, "frozen_mode": str(cell.result.frozen_mode or "n/a")})]


def check_macs(cell: CellResult, facts: DatasetFacts | None) -> list[Finding]:
    """MACs that disagree with the weights' published count (a tool that failed is an appendix note)."""
    arch = cell.arch
    ratio = arch.macs_at_224_vs_meta
    meta = arch.imagenet or {}
    low, high = MACS_META_RANGE
    if ratio is None or not meta.get("gflops") or low <= ratio <= high:
        return []
    unsupported = ", ".join(arch.macs_unsupported_ops) or "—"
    return [finding("macs_vs_meta", "warning", scope={"backbone": cell.cell.backbone},
                    evidence={"ratio": ratio, "published_g": meta["gflops"], "counted_g": ratio * meta["gflops"],
                              "weights": meta.get("name", ""), "unsupported": unsupported})]


MODE_GAP_BAL_ACC = 0.10  # train-mode balanced accuracy this far above eval mode: the statistics, not the weights


def check_eval_mode_gap(cell: CellResult, facts: DatasetFacts | None) -> list[Finding]:
    """Eval-mode validation predictions that were (near-)constant, with what the runner measured next to them
    (result.json ``mode_gap``): the same weights with BatchNorm batch statistics. Either those separate the
    classes (the running statistics do not describe the weights) or they are constant too (the weights did
    not learn)."""
    gap = cell.result.mode_gap
    if not gap:
        return []
    ev, tr = gap["eval"], gap["train_mode"]
    evidence = {"eval_range": ev["score_range"], "eval_bal": ev["balanced_accuracy"],
                "train_range": tr["score_range"], "train_bal": tr["balanced_accuracy"],
                "train_auc": tr["auc"], "var_ratio": gap.get("last_bn_var_ratio"), "batch_size": gap["batch_size"]}
    statistics = (gap.get("last_bn_var_ratio") is not None and tr["balanced_accuracy"] is not None
                  and ev["balanced_accuracy"] is not None and tr["predicted_classes"] > 1
                  and tr["balanced_accuracy"] >= ev["balanced_accuracy"] + MODE_GAP_BAL_ACC)
    return [finding("eval_mode_gap" if statistics else "eval_constant_weights", "high", scope=_scope(cell),
                    evidence=evidence)]


def check_stages_incomplete(cell: CellResult, facts: DatasetFacts | None) -> list[Finding]:
    """A strategy whose planned stages did not all run (a warm-up that never reached fine-tuning) is not
    what its name says: its numbers are those of the stages that ran."""
    res = cell.result
    if res.stages_complete is not False or not res.stages:
        return []
    return [finding("stages_incomplete", "high", scope=_scope(cell), evidence={
        "epochs_run": res.epochs_run, "stages_ran": ", ".join(s.name for s in res.stages),
        "stages_planned": ", ".join(res.stages_planned or []),
        "warmup_frozen_epochs": cell.cell.train.warmup_frozen_epochs})]


CELL_CHECKS: list[Callable[[CellResult, DatasetFacts | None], list[Finding]]] = [
    check_collapsed, check_majority_baseline, check_best_epoch, check_train_test_gap, check_frozen_bn_drift, check_macs,
    check_eval_mode_gap, check_stages_incomplete,
]


# --------------------------------------------------------------------------- entry points
def _sorted_unique(findings: list[Finding]) -> list[Finding]:
    """Drop repeats (one backbone's MAC finding appears in every cell) and sort high → info."""
    seen, out = set(), []
    for f in findings:
        key = json.dumps([f.id, f.scope, f.evidence], sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return sorted(out, key=lambda f: _RANK[f.severity])


def dataset_findings_from_facts(facts: DatasetFacts) -> list[Finding]:
    """Findings about one dataset before any training (small val, imbalance, duplicates)."""
    return _sorted_unique([f for check in DATASET_CHECKS for f in check(facts)])


def _facts_by_dataset(run: RunResults) -> dict[str, DatasetFacts]:
    """``datasets/<name>.json`` facts, falling back to a cell's data.json for datasets without one."""
    facts: dict[str, DatasetFacts] = dict(run.datasets)
    for cell in run.cells:
        facts.setdefault(cell.cell.dataset, cell.data)
    return facts


def run_checks(run: RunResults) -> list[Finding]:
    """All findings for a loaded run, most severe first."""
    facts = _facts_by_dataset(run)
    found = [f for d in facts.values() for check in DATASET_CHECKS for f in check(d)]
    for cell in run.cells:
        for check in CELL_CHECKS:
            found.extend(check(cell, facts.get(cell.cell.dataset)))
    found.extend(check_published(run))
    found = _sorted_unique(found)
    log.info("validity checks: %s", dict(Counter(f.severity for f in found)) or "none")
    return found

