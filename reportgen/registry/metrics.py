"""The test metrics: one entry per metric, every fact about it in that entry.

An entry says whether higher is better, which function of :mod:`reportgen.describe.metrics` computes it from
labels and probabilities (``kernel``, called ``kernel(y_true, probs)``; a test checks each against
``summarize``), how the report and the exports print it (``fmt``: percent points or a three-decimal score,
see :func:`reportgen.report.format.metric_formatters`), which tasks it applies to, where its column label
lives in the i18n catalogs, and the roles that decide which lists it belongs to.

The lists the rest of the package uses are the views at the bottom, in this tuple's order (metrics.json and
result.json keep their key order, so the order below is the order they have always been written in).
Torch- and numpy-free: the store's schema imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("binary", "multiclass", "ordinal")
ALL_TASKS = frozenset(TASKS)


@dataclass(frozen=True)
class Metric:
    name: str  # the attribute of SplitMetrics / key of metrics.json
    higher_is_better: bool
    kernel: str  # function name in reportgen.describe.metrics: kernel(y_true, probs) -> float | None
    fmt: str  # "pct": percent points (87.3); "dec": a score with three decimals (0.912)
    tasks: frozenset[str]  # the tasks whose report shows it
    label_key: str | None  # i18n key of its column label (None: not shown as a column)
    # headline: result.json's test block and the seed summary; table: the results table and exported cell
    # metrics; compared: paired tests, pivots; vectorised: bootstrapped from resample weights; ci: metrics.json
    # carries a 95 % CI; figure: a figure axis shows it (its label is report.fig.<name>)
    roles: frozenset[str]


def _m(name: str, higher: bool, kernel: str, fmt: str, label_key: str | None, roles: str,
       tasks: frozenset[str] = ALL_TASKS) -> Metric:
    return Metric(name, higher, kernel, fmt, tasks, label_key, frozenset(roles.split()))


REGISTRY: tuple[Metric, ...] = (
    _m("accuracy", True, "accuracy", "pct", "report.col.accuracy", "headline table compared vectorised ci"),
    _m("balanced_accuracy", True, "balanced_accuracy", "pct", "report.col.balanced_accuracy",
       "headline table vectorised ci"),
    _m("macro_f1", True, "macro_f1", "pct", "report.col.macro_f1", "headline table compared vectorised ci figure"),
    _m("weighted_f1", True, "weighted_f1", "pct", None, "vectorised"),
    _m("auc", True, "roc_auc", "dec", "report.col.auc", "headline table compared vectorised ci figure"),
    _m("ece", False, "expected_calibration_error", "dec", "report.col.ece", "table"),
    # Meaningful only when the classes are ordered (a dataset declared task = "ordinal").
    _m("kappa_quadratic", True, "kappa_quadratic", "dec", "results.col.kappa_quadratic", "ci",
       tasks=frozenset({"ordinal"})),
    _m("loss", False, "mean_loss", "dec", "results.col.loss", "ci figure"),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in REGISTRY}


def get(name: str) -> Metric:
    return BY_NAME[name]


def with_role(role: str) -> tuple[str, ...]:
    """Names of the metrics that have ``role``, in registry order."""
    return tuple(m.name for m in REGISTRY if role in m.roles)


def for_task(names: tuple[str, ...], task: str) -> tuple[str, ...]:
    """The subset of ``names`` that applies to ``task``."""
    return tuple(n for n in names if task in BY_NAME[n].tasks)


# ---- views (derived, never spelled out again)
NAMES: tuple[str, ...] = tuple(BY_NAME)
HEADLINE = with_role("headline")  # result.json "test", seeds.json, the seed table
TABLE = with_role("table")  # the results table's metric columns, export's per-cell test metrics
COMPARED = with_role("compared")  # paired tests (comparisons.json), pivots, the consistency gate
VECTORISED = with_role("vectorised")  # bootstrapped vectorised from resample weights
# metrics.json "ci": the compared metrics first, then the rest: the key order the store has always had
CI = COMPARED + tuple(n for n in with_role("ci") if n not in COMPARED)
ORDINAL_ONLY = tuple(m.name for m in REGISTRY if m.tasks == frozenset({"ordinal"}))
