"""Validity findings about a dataset's splits, before any training: small validation split, class imbalance,
duplicates and groups across splits, class-share shift. Part of :mod:`checks` (which re-exports every name
here); preflight runs these alone. Each finding is data (:class:`reportgen.store.schema.Finding`). Torch-free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ..store.schema import DatasetFacts, Finding

SEVERITIES = ("high", "warning", "info")
RANK = {s: i for i, s in enumerate(SEVERITIES)}

# Thresholds, in one place so the report can quote them.
VAL_WARN_N = 100  # below this a validation accuracy moves ≥ 1 point per image
VAL_HIGH_N = 30
IMBALANCE_SHARE = 0.6

# Class-share shift between train and val/test: total variation distance (half the sum of absolute
# share differences = the largest gap in probability any set of classes gets between the two splits).
# Any single class moving by ≥ 10 points already gives TVD ≥ 0.10, so one threshold covers both
# readings; 0.10 is the scale on which a majority-class baseline's accuracy moves by 10 points between
# splits, the same scale as TRAIN_TEST_GAP. Compared exactly (fractions of the counts), so a split at
# exactly 0.10 fires however floats would round 0.5 − 0.4.
SHIFT_TVD = Fraction(1, 10)


def finding(check_id: str, severity: str, *, scope: dict[str, Any], evidence: dict[str, Any]) -> Finding:
    if severity not in RANK:
        raise ValueError(f"expected severity in {SEVERITIES}, got {severity!r}")
    return Finding(id=check_id, severity=severity, scope={k: v for k, v in scope.items() if v is not None},
                   evidence=evidence)


# --------------------------------------------------------------------------- dataset facts
def _split(facts: DatasetFacts, name: str) -> tuple[int | None, list[int] | None]:
    """``(n, counts)`` of one split in dataset facts, ``(None, None)`` when absent."""
    split = facts.splits.get(name)
    return (split.n, split.counts) if split else (None, None)


def _class_name(facts: DatasetFacts, index: int) -> str:
    return str(facts.classes[index]) if index < len(facts.classes) else str(index)


def majority_baseline(facts: DatasetFacts | None) -> dict[str, Any] | None:
    """What always predicting the training majority class scores on the test split.

    Returns ``{"majority_class", "share", "baseline_acc", "baseline_macro_f1", "n_classes"}``; ``share`` is
    the majority's share of the training split (the test split when there is no training split).
    """
    if facts is None:
        return None
    _, train = _split(facts, "train")
    _, test = _split(facts, "test")
    ref = train or test
    if not ref or not test or sum(ref) == 0 or sum(test) == 0:
        return None
    major = max(range(len(ref)), key=lambda i: ref[i])
    p = test[major] / sum(test)
    # Precision p and recall 1 for the majority class, F1 0 for every class never predicted.
    f1_major = 2 * p / (1 + p) if p > 0 else 0.0
    return {
        "majority_class": _class_name(facts, major),
        "share": ref[major] / sum(ref),
        "baseline_acc": p,
        "baseline_macro_f1": f1_major / len(test),
        "n_classes": len(test),
    }


def check_small_val(facts: DatasetFacts) -> list[Finding]:
    """A validation split so small that one image moves accuracy by a point or more."""
    n, _ = _split(facts, "val")
    if not n or n >= VAL_WARN_N:
        return []
    severity = "high" if n < VAL_HIGH_N else "warning"
    return [finding("small_val", severity, scope={"dataset": facts.name},
                    evidence={"n": n, "resolution": 1 / n})]


def check_imbalance(facts: DatasetFacts) -> list[Finding]:
    """A majority class of ≥ 60 %: accuracy must be read against always predicting it."""
    base = majority_baseline(facts)
    if base is None or base["share"] < IMBALANCE_SHARE:
        return []
    return [finding("class_imbalance", "warning", scope={"dataset": facts.name}, evidence=base)]


def _dup_summary(pairs: list[dict]) -> tuple[str, str, bool]:
    """``("train–val 3, val–test 1", "train #12 = test #40", touches_test)`` from listed pairs."""
    by_splits = Counter(f"{p['a'][0]}–{p['b'][0]}" for p in pairs)
    split_text = ", ".join(f"{k} {v}" for k, v in by_splits.items())
    first = pairs[0]
    example = f"{first['a'][0]} #{first['a'][1]} ~ {first['b'][0]} #{first['b'][1]}"
    touches_test = any("test" in (p["a"][0], p["b"][0]) for p in pairs)
    return split_text, example, touches_test


def check_duplicates(facts: DatasetFacts) -> list[Finding]:
    """Exact and near-duplicate images shared by different splits (found by reportgen.data.dedup)."""
    dups = facts.duplicates or {}
    counts = dups.get("counts") or {}
    out = []
    for kind in ("exact", "near"):
        pairs = dups.get(kind) or []
        count = counts.get(kind, len(pairs))
        if not count or not pairs:
            continue
        split_text, example, touches_test = _dup_summary(pairs)
        # An exact copy in the test split inflates the headline number; elsewhere it biases selection.
        if kind == "exact":
            severity = "high" if touches_test else "warning"
        else:
            severity = "warning" if touches_test else "info"
        out.append(finding(f"duplicates_{kind}", severity, scope={"dataset": facts.name},
                           evidence={"count": count, "pairs": split_text, "example": example,
                                     "method": dups.get("method", ""), "variant_detail": "one" if count == 1 else ""}))
    return out


def class_shares(counts: list[int]) -> list[float]:
    """Each class's share of a split (the report's table and the shift check use this one function)."""
    n = sum(counts)
    return [c / n if n else 0.0 for c in counts]


def total_variation(a: list[int], b: list[int]) -> Fraction:
    """Exact total variation distance between the class shares of two splits' counts."""
    na, nb = sum(a), sum(b)
    if not na or not nb:
        return Fraction(0)
    return sum((abs(Fraction(x, na) - Fraction(y, nb)) for x, y in zip(a, b, strict=False)), Fraction(0)) / 2


def split_shift(facts: DatasetFacts, split: str) -> dict[str, Any] | None:
    """How the class shares of ``split`` differ from train: TVD and the class that moved most."""
    _, train = _split(facts, "train")
    n, other = _split(facts, split)
    if not train or not other or not sum(train) or not sum(other):
        return None
    tvd = total_variation(train, other)
    p, q = class_shares(train), class_shares(other)
    worst = max(range(len(p)), key=lambda i: abs(q[i] - p[i]))
    return {"split": split, "n": n, "tvd": float(tvd), "tvd_pts": 100 * float(tvd), "shifted": tvd >= SHIFT_TVD,
            "class_name": _class_name(facts, worst), "train_share": p[worst], "split_share": q[worst],
            "diff_pts": 100 * (q[worst] - p[worst]), "threshold_pts": 100 * float(SHIFT_TVD)}


def check_class_shift(facts: DatasetFacts) -> list[Finding]:
    """Validation or test class shares that differ from training by TVD ≥ 0.10 (one finding per split)."""
    out = []
    for split in ("val", "test"):
        shift = split_shift(facts, split)
        if shift and shift.pop("shifted"):
            out.append(finding(f"class_shift_{split}", "warning", scope={"dataset": facts.name},
                               evidence={k: v for k, v in shift.items() if k != "split"}))
    return out


def check_group_overlap(facts: DatasetFacts) -> list[Finding]:
    """Declared groups (patients) found in more than one split, official splits included (data/groups.py).

    High: a patient seen in training and scored in validation or test inflates the score the way an exact
    duplicate does, and every image of that patient counts.
    """
    g = facts.groups or {}
    if not g.get("in_several"):
        return []
    pairs = ", ".join(f"{k} {v}" for k, v in (g.get("overlap") or {}).items() if v)
    images = ", ".join(f"{k} {v}" for k, v in (g.get("images_in_several") or {}).items() if v)
    return [finding("group_overlap", "high", scope={"dataset": facts.name},
                    evidence={"count": g["in_several"], "pairs": pairs, "images": images,
                              "example": ", ".join(map(str, (g.get("examples") or [])[:3])),
                              "rule": g.get("rule", "")})]


DATASET_CHECKS: list[Callable[[DatasetFacts], list[Finding]]] = [check_small_val, check_imbalance, check_duplicates,
                                                                  check_class_shift, check_group_overlap]
