"""Published test-split results matched to the cells of a run (``baselines.toml``, shipped and cited).

A student cannot tell whether 0.86 accuracy on PneumoniaMNIST is good; the benchmark papers can, but only for
*their* protocol. A published row is therefore matched to a cell only when every protocol field is the same:
the benchmark (declared by ``benchmark = "<flag>"`` / ``"<flag>_<size>"`` on an npz or folder dataset, or a
``kind = "medmnist"`` dataset's name and size), the official test split (its size and class count, checked on
the store), the image size, the input size where the source fixes it, the architecture, its stem, the
strategy, and for pretrained rows ImageNet weights. Anything else is no match and nothing is shown: a near
miss is never presented as a comparison. A training subset (``max_train_samples``) keeps the test
protocol, so it still matches, and the report says so.

Findings: a cell more than ``FAR_BELOW`` below the published value, or whose 95 % CI lies wholly more than
``ABOVE_CI_MARGIN`` above it (on the same test set that usually means leakage or a different split).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tomllib

from ..store import CellResult, RunResults
from ..store.schema import DatasetFacts, Finding

# The benchmark names and their parsing live in the package root (no store import), so the config parser can
# check ``benchmark = "…"`` without an import cycle (config → published → store → config).
from . import benchmark_ids, parse_benchmark  # noqa: F401

FILE = Path(__file__).with_name("baselines.toml")
METRICS = ("acc", "auc")  # baselines.toml keys → SplitMetrics attributes below
STORE_METRIC = {"acc": "accuracy", "auc": "auc"}
FAR_BELOW = 0.10  # 10 points (accuracy) / 0.10 (AUC) under the published value
ABOVE_CI_MARGIN = 0.05  # the CI's lower end more than 5 points above the published value


@dataclass(frozen=True)
class Source:
    key: str
    short: str
    cite: str
    checked: str


@dataclass(frozen=True)
class Row:
    source: Source
    dataset: str
    image_size: int  # 0: any
    input_size: int  # 0: the source does not fix it
    backbone: str
    stem: str
    strategy: str
    values: dict[str, float]  # "acc"/"auc" → fraction; a metric the source does not give is absent
    note: str = ""


@dataclass
class Match:
    """A published row that matches one cell, with what the reader must know about the comparison."""

    row: Row
    label: str  # the benchmark's display name
    subset: dict[str, int] | None = None  # {"to_n", "from_n"}: the cell trained on a subset (same test split)



@cache
def load() -> tuple[dict[str, dict[str, Any]], tuple[Row, ...]]:
    """``(datasets, rows)`` from the shipped file (read once)."""
    doc = tomllib.loads(FILE.read_text(encoding="utf-8"))
    sources = {k: Source(key=k, short=v["short"], cite=v["cite"], checked=v["checked"])
               for k, v in doc["sources"].items()}
    rows = tuple(Row(source=sources[r["source"]], dataset=r["dataset"], image_size=int(r["image_size"]),
                     input_size=int(r["input_size"]), backbone=r["backbone"], stem=r["stem"], strategy=r["strategy"],
                     values={m: float(r[m]) for m in METRICS if m in r}, note=r.get("note", ""))
                 for r in doc["results"])
    return doc["datasets"], rows


def dataset_identity(spec: dict[str, Any] | None) -> tuple[str, int] | None:
    """The benchmark a dataset declares: ``benchmark = …``, or a ``kind = "medmnist"`` dataset's name and size."""
    if not spec:
        return None
    if spec.get("benchmark"):
        found = parse_benchmark(str(spec["benchmark"]))
        if found and spec.get("kind") == "medmnist" and spec.get("size") and "_" not in str(spec["benchmark"]):
            return found[0], int(spec["size"])  # the size the medmnist dataset reads, not the 28 px default
        return found
    if spec.get("kind") == "medmnist":
        # A medmnist dataset's `name` is the MedMNIST name and `size` the file it reads (config fills 28).
        found = parse_benchmark(str(spec.get("name") or ""))
        return (found[0], int(spec.get("size") or 28)) if found else None
    return None


def _official_test(facts: DatasetFacts | None, meta: dict[str, Any]) -> bool:
    """The store's test split is the benchmark's official one: same image count (where known) and classes."""
    if facts is None or "test" not in facts.splits:
        return False
    if meta.get("test_n") and facts.splits["test"].n != int(meta["test_n"]):
        return False
    return not meta.get("classes") or len(facts.classes) == int(meta["classes"])


def imagenet_weights(weights: str) -> bool:
    """The cell started from ImageNet weights: a torchvision enum/DEFAULT or the offline Lite packages (a
    ``.pth`` file could hold anything, so it never matches a published ImageNet-pretrained row)."""
    w = (weights or "").strip()
    return bool(w) and w.lower() != "none" and not w.endswith((".pth", ".pt")) and "/" not in w


def match(cell: CellResult, spec: dict[str, Any] | None, facts: DatasetFacts | None) -> Match | None:
    """The published row for exactly this cell's protocol, or None (never the nearest row)."""
    ident = dataset_identity(spec)
    if ident is None:
        return None
    flag, size = ident
    datasets, rows = load()
    meta = datasets.get(flag, {})
    if not _official_test(facts, meta):
        return None
    c = cell.cell
    for row in rows:
        if (row.dataset == flag and row.image_size in (0, size) and row.input_size in (0, c.input_size)
                and row.backbone == c.backbone and row.stem == (c.stem or "default") and row.strategy == c.strategy
                and (row.strategy == "scratch" or imagenet_weights(c.weights))):
            sub = facts.train_subsampled if facts else None
            return Match(row=row, label=str(meta.get("label", flag)),
                         subset={"to_n": sub.to_n, "from_n": sub.from_n} if sub else None)
    return None


def _specs(run: RunResults) -> dict[str, Any]:
    return {d.name: d for d in run.experiment.datasets}


def _facts(run: RunResults, cell: CellResult) -> DatasetFacts:
    return run.datasets.get(cell.cell.dataset) or cell.data


def matches(run: RunResults) -> dict[str, Match]:
    """cell id → its published match, for every cell that has one."""
    specs = _specs(run)
    out = {}
    for c in run.cells:
        found = match(c, specs.get(c.cell.dataset), _facts(run, c))
        if found is not None:
            out[c.id] = found
    return out


def compare(cell: CellResult, m: Match) -> list[dict[str, Any]]:
    """Per metric: the cell's value and CI against the published one, and which rule (if any) fires."""
    out = []
    test = cell.test
    for key, published in m.row.values.items():
        value = getattr(test, STORE_METRIC[key])
        if value is None:
            continue
        lo, _hi = test.ci_of(STORE_METRIC[key]) or (None, None)
        rule = ""
        if value < published - FAR_BELOW:
            rule = "below"
        elif lo is not None and lo - published > ABOVE_CI_MARGIN:
            rule = "above"
        out.append({"metric": key, "value": value, "published": published, "ci_lo": lo, "rule": rule,
                    "diff_pts": 100 * (value - published)})
    return out


def _used(run: RunResults, cell: CellResult, m: Match) -> str:
    """Training images used / available ("64/4708"), the same number twice when no subset was drawn."""
    if m.subset:
        return f"{m.subset['to_n']}/{m.subset['from_n']}"
    n = _facts(run, cell).splits.get("train")
    return f"{n.n}/{n.n}" if n else "?"


def check_published(run: RunResults) -> list[Finding]:
    """Findings for cells far below, or implausibly above, the published result for their exact protocol."""
    found = []
    by_cell = matches(run)
    for c in run.cells:
        m = by_cell.get(c.id)
        if m is None:
            continue
        for row in compare(c, m):
            if not row["rule"]:
                continue
            cc = c.cell
            found.append(Finding(
                id=f"published_{row['rule']}", severity="warning" if row["rule"] == "below" else "high",
                scope={"dataset": cc.dataset, "cell_id": cc.id, "backbone": cc.backbone, "strategy": cc.strategy},
                evidence={"metric": row["metric"].upper(), "value": row["value"], "published": row["published"],
                          "ci_lo": row["ci_lo"], "diff_pts": row["diff_pts"], "source": m.row.source.short,
                          "subset": _used(run, c, m),
                          "far_below_pts": 100 * FAR_BELOW, "above_pts": 100 * ABOVE_CI_MARGIN}))
    return found
