"""Appendix: the CLAIM 2024 and TRIPOD+AI checklists, filled from the run where the store answers an item.

The items are data (``reportgen/published/checklists.toml``; paraphrases in ``i18n/checklist.*.json``). This
module only evaluates them, after every other section exists: an item is *filled from the run* when one of its
``run`` entries holds — a named fact checked on the results store below (e.g. ``ci``: every cell's test
accuracy has a 95 % CI) AND an element of this report that shows it (a table or figure whose ``ref`` matches,
or a named section). It links to that element the way the task index does. An item whose ``na`` fact holds is
not applicable with its reason; every other item is the author's: answered in ``[report.checklist]``, or open.
Open items are returned so ``render`` can list them in the terminal.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...config.report import pick
from ...i18n import t
from ...published import checklist_items as items
from ...store.schema import ExplainRecord
from ..builder import Builder
from ..model import BulletList, Cell, Figure, Paragraph, Section, Table
from ..refs import anchor_token
from .tasks import Unanswered

MAX_LINKS = 4  # per item: a 40-cell run has 40 metric tables; the first few show where to look


def ct(b: Builder, key: str, **values: Any) -> str:
    return t(b.lang, f"checklist.{key}", **values)


# --------------------------------------------------------------------------- facts checked on the store
def _all(cells: list, pred: Callable[[Any], bool]) -> bool:
    return bool(cells) and all(pred(c) for c in cells)


def _facts(b: Builder) -> list:
    return [f for f in (b.facts(ds) for ds in b.datasets()) if f is not None]


def _explain(b: Builder) -> list[ExplainRecord]:
    return [c.explain for c in b.run.cells if c.explain is not None]


def _ci_ok(ci: Any) -> bool:
    return ci is not None and ci[0] is not None and ci[1] is not None


def _blocks(sec: Section, kind: type) -> list:
    return [x for x in sec.blocks if isinstance(x, kind)]


FACTS: dict[str, Callable[[Builder], bool]] = {
    # Each is a question about the results store (or the report built from it) that can come out false.
    "abstract": lambda b: any(s.anchor == "sec-abstract" and _blocks(s, Paragraph) for s in b.sections),
    "datasets": lambda b: bool(_facts(b)) and all("test" in f.splits and "train" in f.splits for f in _facts(b)),
    "class_counts": lambda b: bool(_facts(b)) and all(
        sum(s.counts) == s.n and s.n > 0 for f in _facts(b) for s in f.splits.values()),
    "pipeline": lambda b: _all(b.run.cells, lambda c: c.data.pipeline is not None and bool(c.data.pipeline.eval)),
    "subset": lambda b: any(f.train_subsampled is not None for f in _facts(b)),
    "no_subset": lambda b: bool(_facts(b)) and all(f.train_subsampled is None for f in _facts(b)),
    "val_split": lambda b: bool(_facts(b)) and all(f.val_split is not None for f in _facts(b)),
    "arch": lambda b: _all(b.run.cells, lambda c: c.arch.params_total > 0),
    "env": lambda b: _all(b.run.cells, lambda c: bool(c.env.torch and c.env.torchvision and c.env.python)),
    "init": lambda b: _all(b.run.cells, lambda c: bool(c.cell.strategy_semantics.init and c.cell.weights)),
    "train_cfg": lambda b: _all(b.run.cells, lambda c: bool(c.cell.train) and c.result.epochs_run > 0),
    "selection": lambda b: _all(b.run.cells, lambda c: bool(c.result.selection_metric) and c.result.best_epoch >= 1),
    "single_models": lambda b: bool(b.run.cells),
    "metrics": lambda b: _all(b.run.cells, lambda c: c.test.n > 0),
    "ci": lambda b: _all(b.run.cells, lambda c: _ci_ok(c.test.ci_of("accuracy"))),
    "paired_tests": lambda b: bool(b.description.comparisons),
    "seeds": lambda b: any(r.n > 1 for r in b.description.seeds),
    "cam": lambda b: any(e.cam_status == "done" and e.cam_items for e in _explain(b)),
    "mistakes": lambda b: any(e.mistakes for e in _explain(b)),
    "confusion": lambda b: _all(b.run.cells, lambda c: bool(c.test.confusion_matrix)),
    "per_class_ci": lambda b: _all(b.run.cells, lambda c: all(_ci_ok(pc.recall_ci) for pc in c.test.per_class)),
    "binary_rates": lambda b: _all(b.run.cells, lambda c: bool((c.test.binary or {}).get("at_0.5"))),
    "calibration": lambda b: _all(b.run.cells, lambda c: c.test.ece is not None),
    "limitations": lambda b: any(s.anchor == "sec-limitations" and any(x.items for x in _blocks(s, BulletList))
                                 for s in b.sections),
}


# --------------------------------------------------------------------------- evaluation
@dataclass
class Status:
    """One item's outcome: ``run`` / ``na`` / ``author`` / ``open``, its links and the author's answer."""

    item: dict[str, Any]
    status: str
    links: list[tuple[str, str]]
    answer: str = ""
    reason: str = ""


def _elements(b: Builder, entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(href, label) of the report elements an evidence entry names that exist in this report."""
    out: list[tuple[str, str]] = []
    for pattern in entry.get("refs", []):
        for sec in b.sections:
            for block in sec.blocks:
                if isinstance(block, (Table, Figure)) and block.ref and fnmatch.fnmatchcase(block.ref, pattern):
                    # Numbers and anchors are given at layout, after this section: cite by identity.
                    key = f"checklist-link:{id(block)}"  # this very element, even where refs repeat
                    b.refs[key] = block
                    out.append((anchor_token(key), b.ref(key)))
    for key in entry.get("sections", []):
        sec = next((s for s in b.sections if s.anchor == f"sec-{key}"), None)
        if sec is not None:
            out.append((f"#{sec.anchor}", ct(b, "where.section", number=sec.number)))
    return list(dict.fromkeys(out))


def evaluate(b: Builder) -> list[Status]:
    """Every item's status for the report ``b`` has built so far (call after every other section)."""
    answers: dict[str, Any] = b.report_cfg.get("checklist") or {}
    out = []
    for item in items():
        answer = pick(answers.get(item["id"]), b.lang).strip()
        links: list[tuple[str, str]] = []
        for entry in item.get("run", []):
            found = _elements(b, entry)
            if found and FACTS[entry["fact"]](b):
                links += [x for x in found if x not in links]
        na = item.get("na")
        if links:
            out.append(Status(item, "run", links[:MAX_LINKS], answer=answer))
        elif na and FACTS[na["fact"]](b):
            out.append(Status(item, "na", [], answer=answer, reason=ct(b, f"na.{na['reason']}")))
        elif answer:
            out.append(Status(item, "author", [], answer=answer))
        else:
            out.append(Status(item, "open", []))
    return out


STATUS_CLS = {"run": "task-done", "author": "task-done", "na": "na", "open": "task-open"}


def _label(item: dict[str, Any]) -> str:
    return f"CLAIM {item['number']}" if item["checklist"] == "claim" else "TRIPOD+AI"


def _row(b: Builder, s: Status) -> list[Cell]:
    item = s.item
    label = _label(item)
    where = Cell(s.reason or s.answer, cls="task-where", links=s.links)
    if s.links and s.answer:
        where.sub = s.answer
    return [Cell(label, cls="task-id"), Cell(ct(b, f"item.{item['id']}")),
            Cell(ct(b, f"status.{s.status}"), cls=STATUS_CLS[s.status]), where]


def checklist(b: Builder) -> list[str]:
    """The checklist appendix; returns the ids of CLAIM items still open (render lists them)."""
    statuses = evaluate(b)
    sec = Section(anchor="sec-checklist", number=len(b.sections) + 1, title=ct(b, "section"),
                  title_alt="" if b.lang == "en" else t("en", "checklist.section"))
    b.sections.append(sec)
    sec.blocks.append(Paragraph(ct(b, "intro", claim_cite=ct(b, "cite.claim"), tripod_cite=ct(b, "cite.tripod"))))
    claim = [s for s in statuses if s.item["checklist"] == "claim"]
    count = {k: sum(s.status == k for s in claim) for k in ("run", "author", "na", "open")}
    sec.blocks.append(Paragraph(ct(b, "summary", total=len(claim), filled=count["run"], author=count["author"],
                                   na=count["na"], open=count["open"])))
    header = [ct(b, "col.item"), ct(b, "col.topic"), ct(b, "col.status"), ct(b, "col.where")]
    for which in ("claim", "tripod"):
        rows = [_row(b, s) for s in statuses if s.item["checklist"] == which]
        b.table(sec, f"checklist:{which}", ct(b, f"cap.{which}"), header, rows,
                source="reportgen/published/checklists.toml; run.json experiment.report.checklist", numeric_from=99)
    open_items = [s.item for s in statuses if s.status == "open"]
    if open_items:  # named as the table names them ("CLAIM 5"), not by their key in the experiment file
        sec.blocks.insert(2, Unanswered(title=ct(b, "open_title"),
                                        items=[b.labelled(_label(item), ct(b, "item." + item["id"]))
                                               for item in open_items]))
    return [item["id"] for item in open_items]
