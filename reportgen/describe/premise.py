"""The premise a lab task rests on (``expect = ["finetune > scratch"]``), checked against the run as a claim.

One claim of kind ``premise`` per (task, expectation, dataset, group): a strategy premise is checked on each
backbone, a backbone premise under each strategy, on the first seed (as the discussion's pairs are). Its
classifier reads the paired comparison row of the two cells (test macro-F1, Holm-adjusted, the rule of
:func:`significance.significant`) and returns

* ``holds`` — significantly better in the stated direction;
* ``not_shown`` — no detectable difference (the sentence cites the difference and its CI);
* ``contradicted`` — significantly better the other way round;
* ``collapsed`` — a side collapsed (one class everywhere, or constant scores): its macro-F1 is no baseline;
* ``not_applicable`` — a side is excluded by design (run.json ``skipped``, e.g. fine-tuning without weights);
* ``not_run`` — a side did not finish (failed, interrupted, still to run);
* ``untested`` — both ran but were not compared (different test sets).

Like every kind, the classifier runs on the stored numbers (describe) and on numbers recomputed from the stored
predictions (verify), so an edited prediction that flips a premise makes ``check`` and ``render`` exit 2.
Nothing here knows a language (reportgen.report.premise words it). Torch-free.
"""

from __future__ import annotations

from typing import Any

from ..config.expect import side_of, split
from .facts import CellFacts, Facts
from .model import Claim
from .significance import PAIR_METRIC, significant

KIND = "premise"
_OUTCOME = {"better": "holds", "worse": "contradicted", "no_difference": "not_shown", "untested": "untested"}


def _cells(f: Facts, p: dict, name: str) -> list[CellFacts]:
    """The cells of side ``name`` in the claim's group (dataset, seed, the shared backbone or strategy)."""
    member, fixed = ("strategy", "backbone") if p["side"] == "strategy" else ("backbone", "strategy")
    return sorted((c for c in f.cells_.values() if c.dataset == p["dataset"] and c.seed == p["seed"]
                   and getattr(c, fixed) == p["group"] and getattr(c, member) == name), key=lambda c: c.id)


def _sides(f: Facts, p: dict) -> tuple[CellFacts | None, CellFacts | None]:
    """(the better side's cell, the worse side's): the two the comparisons paired, when cells kept from an edited
    configuration give a side more than one (compare_cells pairs only the first loaded)."""
    his, los = _cells(f, p, p["better"]), _cells(f, p, p["worse"])
    for hi in his:
        for lo in los:
            if f.pair(hi.id, lo.id) is not None:
                return hi, lo
    return (his[0] if his else None), (los[0] if los else None)


def _coords(p: dict, name: str) -> tuple[str, str, str, int]:
    """(dataset, backbone, strategy, seed) of side ``name``."""
    if p["side"] == "strategy":
        return p["dataset"], p["group"], name, p["seed"]
    return p["dataset"], name, p["group"], p["seed"]


def _skipped(f: Facts, p: dict, name: str) -> str | None:
    """The planner's reason when side ``name`` was left out by design, else None."""
    for s in getattr(f.run.run, "skipped", None) or []:
        if (s.dataset, s.backbone, s.strategy, s.seed) == _coords(p, name):
            return str(s.reason)
    return None


def classify_premise(f: Facts, p: dict) -> tuple[str, dict[str, Any]]:
    """The run's verdict on "``better`` beats ``worse``" in one group (module docstring)."""
    hi, lo = _sides(f, p)
    missing = [n for n, c in ((p["better"], hi), (p["worse"], lo)) if c is None]
    if missing:
        excluded = {n: r for n in missing if (r := _skipped(f, p, n)) is not None}
        outcome = "not_applicable" if excluded else "not_run"
        return outcome, {"missing": missing, "excluded": excluded}
    assert hi is not None and lo is not None
    if hi.collapsed or lo.collapsed:
        return "collapsed", {"collapsed": [c.strategy if p["side"] == "strategy" else c.backbone
                                           for c in (hi, lo) if c.collapsed]}
    row = f.pair(hi.id, lo.id)  # oriented better − worse
    part = row.metric(PAIR_METRIC) if row else None
    facts = {"diff": part.diff if part else None, "ci": list(part.ci) if part else None,
             "p_adjusted": part.p_adjusted if part else None}
    return _OUTCOME[significant(part)], facts


def premise_claims(f: Facts) -> list[Claim]:
    """Every premise of every task, as claims, in task order (none when no task states one)."""
    exp = f.run.experiment
    report = exp.get("report")
    tasks = (report.get("tasks") if report is not None else None) or []
    if not any(t.get("expect") for t in tasks):
        return []
    datasets = [d["name"] for d in exp.get("datasets", [])] or sorted({c.cell.dataset for c in f.run.cells})
    backbones = [b["name"] for b in exp.get("backbones", [])] or sorted({c.cell.backbone for c in f.run.cells})
    strategies = list(exp.get("strategies") or sorted({c.cell.strategy for c in f.run.cells}))
    seeds = list(exp.get("seeds") or sorted({c.cell.seed for c in f.run.cells}))
    out = []
    for task in tasks:
        for text in task.get("expect") or []:
            better, worse = split(text)
            side = side_of(better, strategies=strategies, backbones=backbones)
            if side is None:  # validate refuses such a premise; a store from an edited TOML is said, not guessed
                continue
            groups = backbones if side == "strategy" else strategies
            for ds in datasets:
                for group in groups:
                    out.append(_claim(f, task["id"], text, side=side, dataset=ds, group=group, seed=seeds[0],
                                      better=better, worse=worse))
    return out


def _claim(f: Facts, task: str, text: str, **p: Any) -> Claim:
    outcome, facts = classify_premise(f, p)
    hi, lo = _sides(f, p)
    values: dict[str, Any] = {"task": task, "expect": text, **p, **facts}
    cells: tuple[str, ...] = ()
    if hi is not None and lo is not None:
        cells = (hi.id, lo.id)
        row = f.pair(hi.id, lo.id)
        part = row.metric(PAIR_METRIC) if row else None
        values.update(value_better=part.value_a if part else hi.macro_f1,
                      value_worse=part.value_b if part else lo.macro_f1, n=hi.n)
    return Claim(id=f"premise:{task}:{p['better']}>{p['worse']}:{p['dataset']}:{p['group']}", kind=KIND,
                 outcome=outcome, cells=cells, values=values, params=dict(p),
                 sources={"diff": "analysis/comparisons.json macro_f1.diff (better − worse)",
                          "p": "analysis/comparisons.json macro_f1.p_adjusted (Holm)"},
                 refs=(f"pairs:{p['dataset']}", f"compare:{p['dataset']}"))
