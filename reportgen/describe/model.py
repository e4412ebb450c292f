"""The description of a run as types: what :mod:`reportgen.describe.description` computes once from a loaded
store and ``check``, ``render`` and ``export`` read.

* :class:`Comparison` — one paired comparison of two cells (a row of ``analysis/comparisons.json``), its
  ``kind`` a :class:`ComparisonKind`, each compared metric a :class:`PairedTest`;
* :class:`SeedSummary` — mean ± sd over the seeds of one resolved configuration (``analysis/seeds.json``);
* :class:`CellFacts` — what a sentence may rest on for one cell (test and validation scores, spread of the
  stored scores, whether it collapsed);
* :class:`Claim` — one generated sentence as data (``analysis/claims.json``);
* :class:`Description` — all of them plus the run's findings, and the hash of the inputs they were computed from.

Only types live here (no computing, no file I/O), so every module of the description step can import them
without importing each other. Torch-free.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..registry import metrics as metric_registry
from ..store.schema import Finding
from .thresholds import COLLAPSE_SCORE_RANGE, DEGENERATE_SPREAD, MIN_DISTINCT_SCORES


class ComparisonKind(str, enum.Enum):
    """Which cells a comparison pairs (reportgen.describe.compare.compare_cells)."""

    STRATEGY = "strategy"  # two strategies of one backbone (same dataset, same seed)
    BACKBONE = "backbone"  # two backbones trained with one strategy
    BEST = "best"  # the cell best on validation against one differing in both backbone and strategy


class _Strict(BaseModel):
    # A row with a key this version does not know is from another version: recomputed, never half-read.
    model_config = ConfigDict(extra="forbid", frozen=True)


class McNemar(_Strict):
    b: int
    c: int
    statistic: float
    p_value: float
    method: str  # "exact" | "chi2_cc"


class PairedTest(_Strict):
    """One metric of a paired comparison, ``diff = value_a − value_b`` (reportgen.describe.pairedtests)."""

    method: str  # "mcnemar" (accuracy), "paired_bootstrap", "delong"
    value_a: float | None = None
    value_b: float | None = None
    diff: float | None = None
    ci: tuple[float | None, float | None] = (None, None)
    p_value: float | None = None
    p_adjusted: float | None = None  # Holm over every comparison of the run, per metric
    n_valid: int | None = None  # bootstrap resamples where both values were defined
    p_bootstrap: float | None = None  # accuracy: the bootstrap p beside McNemar's
    mcnemar: McNemar | None = None
    auc_a: float | None = None  # DeLong
    auc_b: float | None = None
    se: float | None = None
    z: float | None = None
    note: str | None = None  # why the test could not be run

    def flipped(self) -> PairedTest:
        lo, hi = self.ci
        return self.model_copy(update={
            "diff": None if self.diff is None else -self.diff, "value_a": self.value_b, "value_b": self.value_a,
            "ci": (None if hi is None else -hi, None if lo is None else -lo)})


COMPARED_METRICS = metric_registry.COMPARED  # the metrics every paired comparison tests (registry order)


class Comparison(_Strict):
    """Cells ``a`` and ``b`` compared on the same test images; which fields name them depends on ``kind``."""

    a: str
    b: str
    kind: ComparisonKind
    dataset: str
    seed: int
    backbone: str | None = None  # kind strategy: the backbone both share
    strategy: str | None = None  # kind backbone: the strategy both share
    strategy_a: str | None = None
    strategy_b: str | None = None
    backbone_a: str | None = None
    backbone_b: str | None = None
    n: int
    accuracy: PairedTest
    macro_f1: PairedTest
    auc: PairedTest

    def metric(self, name: str) -> PairedTest | None:
        """The paired test of ``name`` (None for a metric without one, e.g. kappa)."""
        return getattr(self, name) if name in COMPARED_METRICS else None

    def flipped(self) -> Comparison:
        """The same comparison oriented b − a."""
        return self.model_copy(update={"a": self.b, "b": self.a,
                                       **{m: getattr(self, m).flipped() for m in COMPARED_METRICS}})

    def to_json(self) -> dict[str, Any]:
        # exclude_unset: a row is written with the keys compare_cells gave it, as before the types existed.
        return self.model_dump(mode="json", exclude_unset=True)


class MeanSd(_Strict):
    mean: float | None = None
    sd: float | None = None  # sample sd (ddof = 1); None for one value
    n: int = 0


SEED_METRICS = metric_registry.HEADLINE  # the headline metrics, summarised over seeds


class SeedSummary(_Strict):
    """Mean ± sd of the headline test metrics over the seeds of ONE resolved configuration.

    ``config`` is the hash of the cell's cell.json without its id and seed: cells kept from an earlier, edited
    configuration have another and are another row, never pooled with these as "seed variability".
    ``differs``: when several configurations share dataset, backbone and strategy, the settings that tell this
    one apart (``{"train.lr": 0.001}``); empty otherwise.
    """

    dataset: str
    backbone: str
    strategy: str
    seeds: list[int]
    config: str = ""
    cells: list[str] = []
    differs: dict[str, Any] = {}
    accuracy: MeanSd
    balanced_accuracy: MeanSd
    macro_f1: MeanSd
    auc: MeanSd

    @property
    def n(self) -> int:
        return len(self.seeds)


def score_degenerate(spread: float, distinct: int) -> bool:
    return spread < DEGENERATE_SPREAD or distinct < MIN_DISTINCT_SCORES


@dataclass(frozen=True)
class CellFacts:
    """What a claim may rest on for one cell (reportgen.describe.facts reads it from the store or recomputes it)."""

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
    config: str = ""  # the resolved configuration without the seed (reportgen.describe.seeds.config_key)
    auc_ci: tuple[float | None, float | None] = (None, None)  # the stored 95% bootstrap CI of the test AUC

    @property
    def degenerate(self) -> bool:
        return score_degenerate(self.spread, self.distinct)

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


@dataclass(frozen=True)
class Claim:
    id: str
    kind: str
    outcome: str
    cells: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    refs: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Claim:
        return cls(id=d["id"], kind=d["kind"], outcome=d["outcome"], cells=tuple(d.get("cells") or ()),
                   values=dict(d.get("values") or {}), sources=dict(d.get("sources") or {}),
                   refs=tuple(d.get("refs") or ()), params=dict(d.get("params") or {}))


@dataclass(frozen=True)
class Description:
    """Everything the report, ``check`` and ``export`` say about a run beyond its stored records, computed once.

    ``inputs`` is the hash of what it was computed from (reportgen.describe.persist.inputs_hash): a stored
    description whose inputs differ from the loaded run's is recomputed, never shown.
    """

    inputs: str
    comparisons: tuple[Comparison, ...] = ()
    seeds: tuple[SeedSummary, ...] = ()
    findings: tuple[Finding, ...] = ()
    claims: tuple[Claim, ...] = ()
    cells: dict[str, CellFacts] = field(default_factory=dict)

    def strategy_pair(self, *, dataset: str, backbone: str, seed: int, a: str, b: str) -> Comparison | None:
        """The comparison of strategies ``a`` and ``b`` of one backbone, oriented a − b as stored."""
        for row in self.comparisons:
            if (row.kind is ComparisonKind.STRATEGY and row.dataset == dataset and row.backbone == backbone
                    and row.seed == seed and row.strategy_a == a and row.strategy_b == b):
                return row
        return None

    def collapsed(self) -> set[str]:
        """Ids of the cells the validity checks found collapsed (one class everywhere, or constant scores)."""
        return {str(f.scope.get("cell_id")) for f in self.findings if f.id == "collapsed"}
