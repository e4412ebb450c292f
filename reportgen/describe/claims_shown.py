"""Claims about what the report shows beside its prose: validity findings, data-dependent captions, task statuses.

Three kinds, registered in :data:`reportgen.describe.claims.CLASSIFIERS` like every other kind, so ``check`` and
``render`` re-derive each from the store and refuse one whose outcome differs:

* ``finding`` — one per validity finding printed (``finding:<check>:<scope>``); the classifier re-runs the checks
  (:attr:`Facts.findings`: on :class:`FreshFacts` the cell checks read metrics recomputed from the stored
  predictions) and returns ``<check>:<severity>`` (plus the wording variant the finding asks for), or ``absent``.
  ``cell_findings:<cell>`` lists the checks raised about one cell, so a finding the predictions now raise but the
  store lacks fails too (a missing sentence can be as false as a wrong one).
* ``caption`` — a figure or table caption sentence that holds only under a condition of the data: the warm-up
  shading (epochs.csv stages), the ‡ mark of degenerate scores (the stored test scores), the published figures
  beneath the architecture table, the bold chosen candidates, the log-scaled parameter axis of the cost figure.
  The section picks its wording from the claim's outcome (:func:`outcome_of`), and the figure draws from it too.
* ``task`` — a task of the index is answered only when its answer, stripped, is not empty. Made at render time
  from the report configuration in effect (:func:`task_claims`; report-only keys may change after the run, so
  these are not stored in ``analysis/claims.json``), re-derived the same way by ``check``.

Torch-free; knows no language (the report words these from the catalogs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..config.report import TEXT_LANGS, pick
from ..store import CellResult, RunResults
from ..store.schema import Finding
from .facts import Facts, StoredFacts
from .model import Claim, Description

Outcome = tuple[str, dict[str, Any]]

LOG_SPAN = 10.0  # an axis whose positive values span at least this factor is drawn (and captioned) log-scaled


# --------------------------------------------------------------------------- findings
def finding_key(f: Finding) -> str:
    """What names one finding across the stored and the re-derived list: its check and its scope."""
    return json.dumps([f.id, f.scope], sort_keys=True, default=str)


def _scope_id(scope: dict[str, Any]) -> str:
    if "cell_id" in scope:
        return str(scope["cell_id"])
    return ",".join(f"{k}={scope[k]}" for k in sorted(scope)) or "run"


def _finding_outcome(found: Iterable[Finding]) -> str:
    """``<check>:<severity>`` (and ``:<variant>`` for each wording variant the evidence picks), joined by ``+``
    when one check raised several findings of the same scope; ``absent`` when none."""
    parts = []
    for f in found:
        variants = [f"{k.removeprefix('variant_')}={v}" for k, v in sorted(f.evidence.items())
                    if k.startswith("variant_") and v]
        parts.append(":".join([f.id, f.severity, *variants]))
    return "+".join(sorted(parts)) or "absent"


def classify_finding(f: Facts, p: dict) -> Outcome:
    found = [x for x in f.findings if finding_key(x) == p["key"]]
    return _finding_outcome(found), {"check": p["check"], "raised": len(found)}


def classify_cell_findings(f: Facts, p: dict) -> Outcome:
    """The checks raised about one cell, sorted (``none``): a finding added or lost on re-derivation changes it."""
    f.by_id[p["cell"]]  # a cell gone from the store: KeyError, reported as "missing"
    ids = sorted({x.id for x in f.findings if x.scope.get("cell_id") == p["cell"]})
    return (",".join(ids) or "none"), {"checks": len(ids)}


def finding_claims(f: StoredFacts) -> list[Claim]:
    """One claim per finding the report prints (in the findings' order) and one per cell listing its checks."""
    out: list[Claim] = []
    seen: set[str] = set()
    for x in f.findings:
        key = finding_key(x)
        if key in seen:
            continue
        seen.add(key)
        params = {"key": key, "check": x.id, "scope": dict(x.scope)}
        outcome, _ = classify_finding(f, params)
        cells = (str(x.scope["cell_id"]),) if "cell_id" in x.scope else ()
        out.append(Claim(id=f"finding:{x.id}:{_scope_id(x.scope)}", kind="finding", outcome=outcome, cells=cells,
                         params=params, values={"severity": x.severity}, refs=("findings",),
                         sources={"evidence": "analysis/findings.json (reportgen.describe.checks.run_checks)"}))
    for c in f.run.cells:
        params = {"cell": c.id}
        outcome, _ = classify_cell_findings(f, params)
        out.append(Claim(id=f"cell_findings:{c.id}", kind="cell_findings", outcome=outcome, cells=(c.id,),
                         params=params))
    return out


def shown_findings(d: Description) -> list[Finding]:
    """The findings the report prints: those its ``finding`` claims name, in the claims' order (one source)."""
    by_key: dict[str, list[Finding]] = {}
    for x in d.findings:
        by_key.setdefault(finding_key(x), []).append(x)
    return [x for c in d.claims if c.kind == "finding" for x in by_key.get(c.params["key"], [])]


# --------------------------------------------------------------------------- captions
def warmup_boundary(c: CellResult) -> float | None:
    """Where the warm-up ends on an epoch axis: halfway between the last frozen and the first fine-tune
    epoch, read from epochs.csv's ``stage`` column (None when the cell never changed stage)."""
    ep = c.epochs
    for prev, row in zip(ep, ep[1:], strict=False):
        if prev.stage == "frozen" and row.stage == "finetune":
            return prev.epoch + 0.5
    return None


def final_trainable(c: CellResult) -> int | None:
    """The trainable parameters a cell ended with: the last stage's when it ran several, else arch.json's."""
    res = c.result
    if res.stages and len(res.stages) > 1:
        return res.stages[-1].trainable_params
    return c.arch.params_trainable


def log_scale(values: Iterable[float | None]) -> bool:
    """Positive values spanning at least LOG_SPAN: an axis the figure draws log-scaled (and the caption says so)."""
    xs = [float(v) for v in values if v is not None]
    return bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= LOG_SPAN


def _caption_warmup(f: Facts, p: dict) -> Outcome:
    boundary = warmup_boundary(f.by_id[p["cell"]])
    return ("shaded" if boundary is not None else "none"), {"boundary": boundary}


def _caption_degenerate(f: Facts, p: dict) -> Outcome:
    c = f.cell(p["cell"])
    return ("degenerate" if c.degenerate else "resolved"), {"spread": c.spread, "distinct": c.distinct}


def _caption_arch_published(f: Facts, p: dict) -> Outcome:
    n = 0
    for bb in dict.fromkeys(c.cell.backbone for c in f.run.cells):  # the table shows one cell per backbone:
        cells = [c for c in f.run.cells if c.cell.backbone == bb]  # its first pretrained one, else its first
        shown = next((c for c in cells if c.cell.strategy != "scratch"), cells[0])
        n += bool(shown.arch.params_published or shown.arch.macs_published)
    return ("beneath" if n else "none"), {"with_published": n}


def _caption_candidates(f: Facts, p: dict) -> Outcome:
    rec = f.run.candidates
    # Without candidates.json the table lists the backbones that ran (arch.json), every one chosen.
    n = sum(c.chosen for c in rec.candidates) if rec is not None else len({c.cell.backbone for c in f.run.cells})
    return ("bold" if n else "none"), {"chosen": n}


def _caption_cost_scale(f: Facts, p: dict) -> Outcome:
    values = [final_trainable(c) for c in f.run.cells]
    return ("log" if log_scale(values) else "linear"), {"min": min((v for v in values if v), default=None),
                                                          "max": max((v for v in values if v), default=None)}


CAPTIONS = {"warmup": _caption_warmup, "degenerate": _caption_degenerate, "arch_published": _caption_arch_published,
            "candidates": _caption_candidates, "cost_scale": _caption_cost_scale}


def classify_caption(f: Facts, p: dict) -> Outcome:
    return CAPTIONS[p["what"]](f, p)


def caption_id(what: str, cell: str | None = None) -> str:
    return f"caption:{what}:{cell}" if cell else f"caption:{what}"


def caption_claims(f: StoredFacts) -> list[Claim]:
    out = []
    for what in ("arch_published", "candidates", "cost_scale"):
        params = {"what": what}
        outcome, facts = classify_caption(f, params)
        out.append(Claim(id=caption_id(what), kind="caption", outcome=outcome, params=params,
                         values={k: v for k, v in facts.items() if v is not None}))
    for c in f.run.cells:
        for what, source in (("warmup", "epochs.csv stage"), ("degenerate", "predictions_test.csv scores")):
            params = {"what": what, "cell": c.id}
            outcome, _ = classify_caption(f, params)
            out.append(Claim(id=caption_id(what, c.id), kind="caption", outcome=outcome, cells=(c.id,),
                             params=params, sources={"condition": f"cells/{c.id}/{source}"}))
    return out


# --------------------------------------------------------------------------- tasks
def _tasks(run: RunResults) -> list[dict[str, Any]]:
    return list((run.experiment.get("report") or {}).get("tasks") or [])


def classify_task(f: Facts, p: dict) -> Outcome:
    task = next(x for x in _tasks(f.run) if x["id"] == p["task"])  # StopIteration: the task is gone
    answer = pick(task.get("answer"), p["lang"]).strip()
    return ("answered" if answer else "open"), {"answer_chars": len(answer)}


def task_claims(run: RunResults, langs: Iterable[str] = TEXT_LANGS) -> list[Claim]:
    """Each task's status per language, from the report configuration in effect (the store's copy, or the TOML
    render was given: reportgen.report.source.reconcile has merged it into ``run``)."""
    facts = Facts(run)
    out = []
    for lang in langs:
        for task in _tasks(run):
            params = {"task": task["id"], "lang": lang}
            outcome, _ = classify_task(facts, params)
            out.append(Claim(id=f"task:{task['id']}:{lang}", kind="task", outcome=outcome, params=params,
                             sources={"answer": "run.json experiment.report.tasks answer (answer_file read in)"}))
    return out


# --------------------------------------------------------------------------- reading claims back
def outcome_of_list(claims: Iterable[Claim], cid: str) -> str:
    """The outcome of claim ``cid`` among ``claims`` (a KeyError naming it when absent)."""
    found = next((c.outcome for c in claims if c.id == cid), None)
    if found is None:
        raise KeyError(f"no claim {cid!r}")
    return found


def outcome_of(d: Description, cid: str, default: str | None = None) -> str:
    """The outcome of the description's claim ``cid``; ``default`` when it is absent (None: a KeyError naming it).
    The index by id is built once per description (a report of many cells looks up several claims per cell)."""
    index = d.__dict__.get("_claims_by_id")
    if index is None:
        index = {c.id: c.outcome for c in d.claims}
        object.__setattr__(d, "_claims_by_id", index)  # a cache on a frozen dataclass, not part of its value
    if cid in index:
        return index[cid]
    if default is None:
        raise KeyError(f"no claim {cid!r} in the description")
    return default


CLASSIFIERS = {"finding": classify_finding, "cell_findings": classify_cell_findings, "caption": classify_caption,
               "task": classify_task}
