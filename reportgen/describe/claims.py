"""Claims: every generated sentence of the abstract and discussion as data, with the condition it rests on.

A :class:`Claim` names its ``kind``, the ``outcome`` that chose its wording (``better`` / ``no_difference``,
``below_chance`` …), the cells it speaks about, the values it cites with their source in the store, and the
builder refs of the tables/figures it cites. Each kind has one *classifier* — a function of :mod:`facts`
that returns the outcome — used twice: :func:`describe` runs it on the stored numbers to write the claim,
:func:`verify` runs it on numbers recomputed from the stored predictions and reports every claim whose
outcome differs (``reportgen check`` and ``render`` then exit 2 naming it). The report words claims from the
``claims`` catalogs; nothing here knows a language. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..store import RunResults
from . import claims_shown
from .checks import IMBALANCE_SHARE, VAL_WARN_N
from .facts import CellFacts, Facts, FreshFacts, StoredFacts
from .metrics import mean_sd
from .model import Claim
from .premise import classify_premise, premise_claims
from .significance import ALPHA, CORRECTION, PAIR_METRIC, significant  # noqa: F401  (importable from here)

__all__ = ["CLASSIFIERS", "Claim", "Failure", "describe", "headline_choice", "significant", "verify"]

SMALL_TEST_N = 200
VAL_TEST_GAP = 0.10  # validation macro-F1 this far above test is discussed


@dataclass(frozen=True)
class Failure:
    claim: Claim
    fresh: str
    facts: dict[str, Any]

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.facts.items())
        return (f"claim {self.claim.id} ({self.claim.kind}) says {self.claim.outcome!r}, but the stored predictions "
                f"give {self.fresh!r} ({shown})")


def _short(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- classifiers (one per kind)
Outcome = tuple[str, dict[str, Any]]


def classify_pair(f: Facts, p: dict) -> Outcome:
    a, b = f.cell(p["a"]), f.cell(p["b"])
    if a.collapsed or b.collapsed:
        return "vs_collapsed", {"collapsed_a": a.collapsed, "collapsed_b": b.collapsed}
    row = f.pair(a.id, b.id)
    part = row.metric(PAIR_METRIC) if row else None
    return significant(part), {"diff": part.diff if part else None, "ci": list(part.ci) if part else None,
                               "p_adjusted": part.p_adjusted if part else None}


def classify_scores(f: Facts, p: dict) -> Outcome:
    """What a cell's scores can be credited with: nothing (degenerate), worse than chance (the AUC's 95% CI lies
    below 0.5), no better than chance (the CI holds 0.5: an AUC of 0.485 on 187 images is not "worse"), or
    ranking. Without a stored CI the point estimate decides."""
    c = f.cell(p["cell"])
    lo, hi = c.auc_ci
    facts = {"auc": c.auc, "spread": c.spread, "distinct": c.distinct, "auc_ci": [lo, hi]}
    if c.degenerate:
        return "degenerate", facts
    if c.auc is None:
        return "undefined", facts
    if lo is not None and hi is not None and lo <= 0.5 <= hi:
        return "chance", facts
    return ("below_chance" if c.auc < 0.5 else "ranks"), facts


ConfigKey = tuple[str, str, str]  # backbone, strategy, resolved configuration without the seed


def _configs(f: Facts, dataset: str) -> dict[ConfigKey, list[CellFacts]]:
    """The dataset's cells by configuration: the seeds of one resolved configuration together, never cells kept
    from an earlier, edited configuration with those of the current one."""
    out: dict[ConfigKey, list[CellFacts]] = {}
    for cf in f.cells_.values():
        if cf.dataset == dataset:
            out.setdefault((cf.backbone, cf.strategy, cf.config), []).append(cf)
    return out


def config_label(key: ConfigKey, keys: list[ConfigKey]) -> str:
    """``backbone|strategy``; ``backbone|strategy|config`` when several configurations share both."""
    shared = sum(k[:2] == key[:2] for k in keys) > 1
    return "|".join(key if shared else key[:2])


def headline_choice(f: Facts, dataset: str) -> ConfigKey | None:
    """The configuration with the highest mean validation macro-F1 over its seeds, among configurations
    none of whose cells collapsed. Test numbers never take part in the choice."""
    configs = {k: v for k, v in _configs(f, dataset).items() if not any(c.collapsed for c in v)}
    if not configs:
        return None
    # Ties go to the configuration met first in the run's cell order, as compare.best_on_validation breaks them:
    # one rule, so the abstract's choice and the comparisons' "best" are the same configuration.
    return max(configs, key=lambda k: _mean_val(configs[k]))


def _mean_val(cells: list[CellFacts]) -> float:
    return sum(c.val_macro_f1 for c in cells) / len(cells)


def headline_ties(f: Facts, dataset: str) -> list[ConfigKey]:
    """The other configurations whose mean validation macro-F1 equals the chosen one's (the choice is then the
    tie rule's, not the data's, and the report says so)."""
    choice = headline_choice(f, dataset)
    if choice is None:
        return []
    configs = {k: v for k, v in _configs(f, dataset).items() if not any(c.collapsed for c in v)}
    best = _mean_val(configs[choice])
    return [k for k, v in configs.items() if k != choice and abs(_mean_val(v) - best) <= 1e-12]


def classify_headline(f: Facts, p: dict) -> Outcome:
    configs = _configs(f, p["dataset"])
    if not configs:
        return "none", {}
    choice = headline_choice(f, p["dataset"])
    if choice is None:
        return "all_collapsed", {}
    keys = list(configs)
    vals = {config_label(k, keys): round(sum(c.val_macro_f1 for c in v) / len(v), 12) for k, v in configs.items()}
    return config_label(choice, keys), {"val_macro_f1": vals}


def classify_winner(f: Facts, p: dict) -> Outcome:
    """For how many backbones each strategy has the highest test macro-F1 point estimate (seed ``seed``)."""
    wins: dict[str, int] = {}
    n = ties = 0
    for bb in p["backbones"]:
        cells = [c for c in f.cells_.values() if c.dataset == p["dataset"] and c.backbone == bb
                 and c.seed == p["seed"] and not c.collapsed]
        if len(cells) < 2:
            continue
        n += 1
        best = max(c.macro_f1 for c in cells)
        tops = [c for c in cells if abs(c.macro_f1 - best) <= 1e-12]
        if len(tops) > 1:  # two strategies share the highest estimate: neither "had the highest"
            ties += 1
            continue
        wins[tops[0].strategy] = wins.get(tops[0].strategy, 0) + 1
    if n < 2:
        return "too_few", {"backbones_compared": n}
    if ties:
        return f"tied:{ties}/{n}", {"wins": wins}
    top = max(sorted(wins), key=lambda s: wins[s])
    return f"{top}:{wins[top]}/{n}", {"wins": wins}


def _test_true_counts(f: Facts, dataset: str) -> list[int]:
    cell = next(c for c in f.cells_.values() if c.dataset == dataset)
    return cell.true


def classify_imbalance(f: Facts, p: dict) -> Outcome:
    counts = _test_true_counts(f, p["dataset"])
    n = sum(counts)
    top = max(range(len(counts)), key=lambda k: counts[k])
    share = counts[top] / n if n else 0.0
    return ("imbalanced" if share >= IMBALANCE_SHARE else "balanced"), {"class": top, "share": share}


def classify_small_val(f: Facts, p: dict) -> Outcome:
    cell = f.by_id[p["cell"]]
    n = len(cell.predictions("val").labels) if isinstance(f, FreshFacts) else cell.metrics.val.n
    return ("small" if n < VAL_WARN_N else "enough"), {"n_val": n}


def classify_ci_width(f: Facts, p: dict) -> Outcome:
    c = f.cell(p["cell"])
    return ("small_n" if c.n < SMALL_TEST_N else "normal"), {"n": c.n}


def classify_gap(f: Facts, p: dict) -> Outcome:
    """Validation above (below) the test score's 95% CI is a gap sampling noise on the test set does not explain;
    without a CI, a fixed VAL_TEST_GAP. (A fixed 10 points left a 6-point gap above the CI unmentioned.)"""
    c = f.cell(p["cell"])
    gap = c.val_macro_f1 - c.macro_f1
    lo, hi = c.macro_f1_ci
    if lo is not None and hi is not None:
        return ("large" if c.val_macro_f1 > hi else ("reverse" if c.val_macro_f1 < lo else "small")), {"gap": gap}
    return ("large" if gap > VAL_TEST_GAP else ("reverse" if gap < -VAL_TEST_GAP else "small")), {"gap": gap}


def classify_collapsed_count(f: Facts, p: dict) -> Outcome:
    return str(sum(c.collapsed for c in f.cells_.values())), {}


def classify_budget(f: Facts, p: dict) -> Outcome:
    a, b = f.budget(p["a"]), f.budget(p["b"])
    differs = [k for k in ("epochs", "lr", "augment") if a[k] != b[k]]
    return ("differs:" + ",".join(differs) if differs else "same"), {"a": a, "b": b}


def classify_backbones(f: Facts, p: dict) -> Outcome:
    n = len({c.backbone for c in f.cells_.values() if c.dataset == p["dataset"]})
    return ("one" if n == 1 else "several"), {"backbones": n}


def classify_findings(f: Facts, p: dict) -> Outcome:
    return str(sum(x.severity == "high" for x in f.findings)), {}


CLASSIFIERS: dict[str, Callable[[Facts, dict], Outcome]] = {
    "pair": classify_pair, "scores": classify_scores, "headline": classify_headline, "winner": classify_winner,
    "imbalance": classify_imbalance, "small_val": classify_small_val, "ci_width": classify_ci_width,
    "val_test_gap": classify_gap, "collapsed_count": classify_collapsed_count, "budget": classify_budget,
    "backbones": classify_backbones, "findings_high": classify_findings,
    "premise": classify_premise,  # describe/premise.py: a task's stated premise against the run
}
CLASSIFIERS.update(claims_shown.CLASSIFIERS)  # findings, captions and task statuses (claims_shown)


# --------------------------------------------------------------------------- the description step
def _claim(f: Facts, kind: str, cid: str, params: dict, **extra: Any) -> Claim:
    outcome, _ = CLASSIFIERS[kind](f, params)
    return Claim(id=cid, kind=kind, outcome=outcome, params=params, **extra)


def _src(cid: str, what: str) -> str:
    return f"cells/{cid}/{what}"


def _cell_values(c: CellFacts) -> dict[str, Any]:
    return {"backbone": c.backbone, "strategy": c.strategy, "seed": c.seed}


def _scores_claim(f: Facts, c: CellFacts, ds: str) -> Claim:
    return _claim(f, "scores", f"scores:{c.id}", {"cell": c.id}, cells=(c.id,),
                  values={**_cell_values(c), "auc": c.auc, "spread": c.spread, "auc_ci": list(c.auc_ci)},
                  sources={"auc": _src(c.id, "metrics.json test.auc"),
                           "spread": _src(c.id, "predictions_test.csv (max − min of the scores)")},
                  refs=(f"roc:{ds}:{c.backbone}", f"compare:{ds}"))


def _headline(f: StoredFacts, ds: str) -> list[Claim]:
    base = _claim(f, "headline", f"headline:{ds}", {"dataset": ds}, values={"dataset": ds})
    if "|" not in base.outcome:
        return [base]
    choice = headline_choice(f, ds)
    assert choice is not None  # the outcome names a configuration
    bb, s, _ = choice
    cells = sorted(_configs(f, ds)[choice], key=lambda c: c.seed)
    values: dict[str, Any] = {"dataset": ds, "backbone": bb, "strategy": s, "n_seeds": len(cells),
                              "val_f1": sum(c.val_macro_f1 for c in cells) / len(cells), "n": cells[0].n}
    sources = {"val_f1": "cells/*/metrics.json val.macro_f1", "f1": "cells/*/metrics.json test.macro_f1"}
    if len(cells) == 1:
        c = cells[0]
        values.update(f1=c.macro_f1, ci=list(c.macro_f1_ci), auc=c.auc)
        sources.update(ci=_src(c.id, "metrics.json test.ci.macro_f1"), auc=_src(c.id, "metrics.json test.auc"))
    else:
        ms = mean_sd([c.macro_f1 for c in cells])
        values.update(f1=ms.get("mean"), sd=ms.get("sd"))
    values["tied"] = [{"backbone": k[0], "strategy": k[1]} for k in headline_ties(f, ds)]
    claim = Claim(id=base.id, kind="headline", outcome=base.outcome, cells=tuple(c.id for c in cells), values=values,
                  sources=sources, params=base.params,
                  # the test value's table, the seed summary, and the per-epoch log holding the validation value
                  refs=(f"compare:{ds}", f"seeds:{ds}") + tuple(f"epochs-{c.id}" for c in cells))
    out = [claim]
    if len(cells) == 1:
        out.append(_scores_claim(f, cells[0], ds))
        out.append(_claim(f, "ci_width", f"ci_width:{ds}", {"cell": cells[0].id}, cells=(cells[0].id,),
                          values={"lo": cells[0].macro_f1_ci[0], "hi": cells[0].macro_f1_ci[1], "n": cells[0].n}))
    for c in cells[:1]:
        gap = _claim(f, "val_test_gap", f"val_test_gap:{c.id}", {"cell": c.id}, cells=(c.id,),
                     values={**_cell_values(c), "val": c.val_macro_f1, "test": c.macro_f1,
                             "ci": list(c.macro_f1_ci)},
                     refs=(f"compare:{ds}", f"epochs-{c.id}"))  # the test value, and the log holding validation's
        if gap.outcome != "small":
            out.append(gap)
    return out


def _pairs(f: StoredFacts, ds: str, seed: int) -> list[Claim]:
    """One claim per comparison row of this dataset and seed (every pair a reader would compare)."""
    out = []
    for row in f.rows():
        if row.dataset != ds or row.seed != seed:
            continue
        a, b = f.cell(row.a), f.cell(row.b)
        part = row.macro_f1
        claim = _claim(f, "pair", f"pair:{a.id}:{b.id}", {"a": a.id, "b": b.id}, cells=(a.id, b.id),
                       values={"kind": row.kind.value, "seed": seed, "backbone_a": a.backbone, "strategy_a": a.strategy,
                               "backbone_b": b.backbone, "strategy_b": b.strategy, "value_a": part.value_a,
                               "value_b": part.value_b, "diff": part.diff, "ci": list(part.ci),
                               "p": part.p_adjusted, "collapsed_a": a.collapsed, "collapsed_b": b.collapsed},
                       sources={"diff": "analysis/comparisons.json macro_f1.diff",
                                "p": "analysis/comparisons.json macro_f1.p_adjusted (Holm)"},
                       refs=(f"pairs:{ds}", f"compare:{ds}"))
        out.append(claim)
        for side in (a, b):
            if claim.outcome == "vs_collapsed" and side.collapsed:
                out.append(_scores_claim(f, side, ds))
        # "after": the outcome of the pair this caveat follows, so the report words it without looking back
        # (after "no detectable difference" there is no difference to attribute to the budget).
        budget = _claim(f, "budget", f"budget:{a.id}:{b.id}", {"a": a.id, "b": b.id, "after": claim.outcome},
                        cells=(a.id, b.id), values={"a": f.budget(a.id), "b": f.budget(b.id)}, refs=("hyper",))
        if budget.outcome != "same" and claim.outcome != "vs_collapsed":
            out.append(budget)
    return out


def describe(f: StoredFacts) -> list[Claim]:
    """Every claim the abstract and the discussion make, from the stored numbers (the facts, their comparisons and
    findings as the description step computed them once), in reading order."""
    run = f.run
    exp = run.experiment
    datasets = [d["name"] for d in exp.get("datasets", [])] or sorted({c.cell.dataset for c in run.cells})
    backbones = [b["name"] for b in exp.get("backbones", [])] or sorted({c.cell.backbone for c in run.cells})
    seeds = list(exp.get("seeds") or sorted({c.cell.seed for c in run.cells}))
    out: list[Claim] = []
    for ds in datasets:
        out += _headline(f, ds)
    out.append(Claim(id="cells_finished", kind="cells_finished", outcome=f"{len(run.cells)}/{len(run.run.cells)}",
                     values={"finished": len(run.cells), "planned": len(run.run.cells)}))
    collapsed = _claim(f, "collapsed_count", "collapsed_count", {})
    if collapsed.outcome != "0":
        out.append(Claim(id=collapsed.id, kind=collapsed.kind, outcome=collapsed.outcome,
                         values={"n": int(collapsed.outcome)}))
    for ds in datasets:
        if not any(c.cell.dataset == ds for c in run.cells):
            continue
        winner = _claim(f, "winner", f"winner:{ds}", {"dataset": ds, "backbones": backbones, "seed": seeds[0]},
                        refs=(f"pivot:{ds}:macro_f1", f"headline:{ds}"))
        if winner.outcome != "too_few":
            s, _, kn = winner.outcome.partition(":")
            k, _, n = kn.partition("/")
            out.append(Claim(id=winner.id, kind="winner", outcome=winner.outcome, refs=winner.refs,
                             params=winner.params, values={"dataset": ds, "strategy": s, "k": int(k), "n": int(n)}))
        out += _pairs(f, ds, seeds[0])
        for cf in sorted(f.cells_.values(), key=lambda x: x.id):
            if cf.dataset == ds and not cf.collapsed:
                scores = _scores_claim(f, cf, ds)
                if scores.outcome in ("below_chance", "degenerate", "chance"):
                    out.append(Claim(**{**scores.__dict__, "params": {**scores.params, "collapsed": False}}))
        nbb = _claim(f, "backbones", f"backbones:{ds}", {"dataset": ds})
        if nbb.outcome == "one":
            out.append(nbb)
        out += _hard_to_raise(f, run, ds)
    high = _claim(f, "findings_high", "findings_high", {})
    if high.outcome != "0":
        out.append(Claim(id=high.id, kind=high.kind, outcome=high.outcome, values={"n": int(high.outcome)}))
    out += premise_claims(f)  # the tasks' premises ([[report.tasks]] expect), worded beside their task
    out += claims_shown.finding_claims(f) + claims_shown.caption_claims(f)  # the findings section, the captions
    return out


def _hard_to_raise(f: StoredFacts, run: RunResults, ds: str) -> list[Claim]:
    out = []
    first = next(c for c in run.cells if c.cell.dataset == ds)
    imb = _claim(f, "imbalance", f"imbalance:{ds}", {"dataset": ds}, refs=(f"splits:{ds}",))
    if imb.outcome == "imbalanced":
        _, facts = classify_imbalance(f, {"dataset": ds})
        out.append(Claim(id=imb.id, kind=imb.kind, outcome=imb.outcome, params=imb.params, refs=imb.refs,
                         values={"dataset": ds, "class": first.cell.classes[facts["class"]], "share": facts["share"]},
                         sources={"share": "cells/*/metrics.json test.confusion_matrix (row sums)"}))
    small = _claim(f, "small_val", f"small_val:{ds}", {"cell": first.id}, refs=(f"splits:{ds}",))
    if small.outcome == "small":
        n = first.metrics.val.n
        out.append(Claim(id=small.id, kind=small.kind, outcome=small.outcome, params=small.params, refs=small.refs,
                         values={"n": n, "step": 1 / n}, sources={"n": _src(first.id, "metrics.json val.n")}))
    return out


# --------------------------------------------------------------------------- verification
def verify(run: RunResults, claims: list[Claim]) -> list[Failure]:
    """Re-derive every claim's outcome from the stored predictions; the claims whose outcome differs."""
    fresh = FreshFacts(run)
    out = []
    for claim in claims:
        classify = CLASSIFIERS.get(claim.kind)
        if classify is None:  # a count of the run's own records (cells finished): no predictions involved
            continue
        try:
            outcome, facts = classify(fresh, claim.params)
        except (KeyError, StopIteration) as exc:  # a cell the claim names is gone
            outcome, facts = "missing", {"error": str(exc)}
        if outcome != claim.outcome:
            out.append(Failure(claim, outcome, {k: v for k, v in facts.items() if not isinstance(v, dict)}))
    return out


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
