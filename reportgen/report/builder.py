"""The report builder: sections in reading order, tables and figures registered by *ref*, cited by ref.

Citing a table or figure (the API for every sentence that names one)::

    tab = b.table(sec, f"binary:{ds}", caption, header, rows, source=...)   # registered under its ref
    b.alias(f"pivot:{ds}:macro_f1", f"compare:{ds}")                        # a second name for it
    b.tr("disc.something", ..., ref=b.ref(f"binary:{ds}"))                 # "(Table 14)" once laid out

:meth:`Builder.ref` returns a placeholder, not a number: tables and figures get their numbers in
one pass (:func:`layout`) after every section is built, in reading order, and every placeholder in
every string of the report is then replaced by the label of the element it names. So the number
printed always belongs to the element cited, whatever order sections were built in, and a citation
of a ref that no element carries stops the render (RenderError naming the ref) instead of printing
a wrong number or a dash. ``b.ref("a", "b")`` cites every one of the named elements that exists
(at least one must); :meth:`Builder.has_ref` asks whether one exists so far.

Figures are *jobs* (a plotting function and its data); :mod:`render` draws them, possibly in parallel.
Every section reads the typed store (:mod:`reportgen.store.schema`) through :class:`Builder`'s lookups.
"""

from __future__ import annotations

import re
from typing import Any

from ..config.report import pick
from ..describe.model import Comparison, Description
from ..i18n import t
from ..registry import strategies as strategy_registry
from ..store import CellResult, RunResults
from ..store.schema import DatasetFacts, SplitMetrics
from . import applicability
from .format import markdown
from .labels import backbone_label, dataset_label
from .model import Cell, Figure, Note, Section, Table
from .refs import layout, ref_token

STRATEGY_ORDER = strategy_registry.NAMES
SPLITS = ("train", "val", "test")
MAX_COLUMNS = 4  # panels per small-multiples figure: legible on A4 at full width


def slug(*parts: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


def _cells(row: list[Any]) -> list[Cell]:
    return [c if isinstance(c, Cell) else Cell(str(c)) for c in row]


def parse_cell_id(cid: str) -> dict[str, Any]:
    """``dataset-backbone-strategy-s<seed>-hash`` → parts (names may contain '-': strategy anchors it)."""
    m = strategy_registry.CELL_ID.match(cid)
    if not m:
        return {}
    ds, _, bb = m["rest"].partition("-")
    return {"dataset": ds, "backbone": bb, "strategy": m["strategy"], "seed": int(m["seed"])}


class Builder:
    """Collects sections in reading order and numbers tables and figures as they are created."""

    def __init__(self, run: RunResults, description: Description, lang: str) -> None:
        self.run, self.description, self.lang = run, description, lang
        self.exp = run.experiment
        self.report_cfg = self.exp.get("report", {}) or {}
        self.notes: dict[str, Any] = self.report_cfg.get("notes") or {}
        # "brief" (render --brief, [report] detail): per-epoch logs, per-layer tables, run list and TOML left out.
        self.detail: str = self.report_cfg.get("detail") or "full"
        self.sections: list[Section] = []
        self.n_tables = 0  # tables and figures created so far (their numbers come from layout)
        self.n_figures = 0
        self.refs: dict[str, Table | Figure] = {}  # "pivot:<dataset>:macro_f1" → the element cited by that ref
        self._applies: dict[tuple[str, str, str], bool] = {}
        self.collapsed: set[str] = description.collapsed()
        # Per-run tables moved out of the body (sections.percell): built, in order, in the per-run appendix.
        self.deferred: list[Any] = []

    # ---- text
    def tr(self, key: str, **values: Any) -> str:
        return t(self.lang, f"report.{key}", **values)

    def text(self, value: Any) -> str:
        """The user's text for this report's language (a string, or a {"zh-TW": …, "en": …} table)."""
        return pick(value, self.lang)

    def join(self, items: Any) -> str:
        """A list in running text: "a, b, c" / "a、b、c"."""
        return ("、" if self.lang.startswith("zh") else ", ").join(str(x) for x in items)

    def strategy_name(self, s: str) -> str:
        return strategy_registry.get(s).wording(self.lang) if s in strategy_registry.BY_NAME else s

    def labelled(self, label: str, text: str) -> str:
        """"ResNet-18: text" / "ResNet-18：text" (a full-width colon in Chinese prose)."""
        return f"{label}{'：' if self.lang.startswith('zh') else ': '}{text}"

    def cell_name(self, backbone: str, strategy: str) -> str:
        """"EfficientNet-Lite0 / Fine-tuning" / "EfficientNet-Lite0／微調": one spelling for every sentence and label."""
        return t(self.lang, "claims.cell", backbone=self.bb_label(backbone), strategy=self.strategy_name(strategy))

    def ds_label(self, name: str) -> str:
        return dataset_label(name, self.exp)

    def bb_label(self, name: str) -> str:
        return backbone_label(name, self.exp)

    # ---- blocks
    def section(self, key: str) -> Section:
        sec = Section(anchor=f"sec-{key}", number=len(self.sections) + 1, title=self.tr(f"section.{key}"),
                      title_alt="" if self.lang == "en" else t("en", f"report.section.{key}"))
        self.sections.append(sec)
        return sec

    def note(self, sec: Section, key: str) -> None:
        text = self.text(self.notes.get(key))
        if text:
            sec.blocks.append(Note(html=markdown(text), label=self.tr("ui.author_note")))

    def table(self, sec: Section, ref: str, caption: str, header: list[str], rows: list[list[Any]], *,
              source: str, numeric_from: int = 1) -> Table:
        self.n_tables += 1
        tab = Table(number=0, anchor="", label="", caption=caption, header=header,  # numbered by layout()
                    rows=[_cells(r) for r in rows], source=source, numeric_from=numeric_from, ref=ref)
        self.refs[ref] = tab
        sec.blocks.append(tab)
        return tab

    def figure(self, sec: Section, ref: str, caption: str, job: tuple[str, dict], *, source: str,
               wide: bool = False) -> Figure:
        self.n_figures += 1
        fig = Figure(number=0, anchor="", label="", caption=caption, alt=caption,  # numbered by layout()
                     source=source, job=job, wide=wide, ref=ref)
        self.refs[ref] = fig
        sec.blocks.append(fig)
        return fig

    def ref(self, *keys: str) -> str:
        """A citation of the tables/figures registered under ``keys``, resolved to "Table 4" by :func:`layout`.

        Every key that names an element when the report is laid out is cited (in the order given); a
        citation none of whose keys names an element is a RenderError at layout, never a wrong number.
        """
        return ref_token(keys)

    def alias(self, key: str, target: str) -> None:
        """Register ``key`` as a second name of the element registered under ``target`` (which must exist)."""
        self.refs[key] = self.refs[target]

    def cite(self, keys: Any) -> str:
        """The labels of the tables/figures a claim cites that this report holds ("—" when none): a degenerate
        cell has no ROC panel, so its sentence cites what exists; the numbers are resolved at layout."""
        found = [k for k in dict.fromkeys(keys) if self.has_ref(k)]
        return self.ref(*found) if found else "—"

    def has_ref(self, *keys: str) -> bool:
        """Whether one of ``keys`` names a table or figure created so far."""
        return any(k in self.refs for k in keys)

    def layout(self) -> None:
        """Number tables and figures in reading order and resolve every citation (once, after all sections)."""
        layout(self.sections, self.refs, self.lang)

    # ---- lookups
    def datasets(self) -> list[str]:
        names = [d["name"] for d in self.exp.get("datasets", [])]
        return names or sorted({c.cell.dataset for c in self.run.cells})

    def backbones(self) -> list[str]:
        """Backbones with at least one applicable strategy (one excluded everywhere gets no row anywhere)."""
        names = [b["name"] for b in self.exp.get("backbones", [])]
        names = names or sorted({c.cell.backbone for c in self.run.cells})
        planned = self._planned_strategies()
        return [bb for bb in names if any(self.applies(ds, bb, s) for ds in self.datasets() for s in planned)] or names

    def strategies(self) -> list[str]:
        """Planned strategies that apply to at least one backbone: none gets an empty section or column."""
        planned = self._planned_strategies()
        names = [b["name"] for b in self.exp.get("backbones", [])] or sorted({c.cell.backbone for c in self.run.cells})
        return [s for s in planned if any(self.applies(ds, bb, s) for ds in self.datasets() for bb in names)] or planned

    def _planned_strategies(self) -> list[str]:
        planned = self.exp.get("strategies") or sorted({c.cell.strategy for c in self.run.cells})
        return strategy_registry.ordered(planned)

    def applies(self, dataset: str, backbone: str, strategy: str) -> bool:
        """Whether this combination is in the plan (not left out by design: see :mod:`applicability`)."""
        key = (dataset, backbone, strategy)
        if key not in self._applies:  # asked for every row of every table: answered once per combination
            self._applies[key] = applicability.applies(self, dataset=dataset, backbone=backbone, strategy=strategy)
        return self._applies[key]

    def seeds(self) -> list[int]:
        return list(self.exp.get("seeds") or sorted({c.cell.seed for c in self.run.cells}))

    def cells(self, **match: Any) -> list[CellResult]:
        return [c for c in self.run.cells if all(getattr(c.cell, k) == v for k, v in match.items())]

    def facts(self, ds: str) -> DatasetFacts | None:
        facts = self.run.datasets.get(ds)
        if facts is None:
            cell = next(iter(self.cells(dataset=ds)), None)
            facts = cell.data if cell else None
        return facts

    def missing(self, **match: Any) -> list[str]:
        """Planned cell ids not finished, matched on the readable id prefix."""
        return [cid for cid in self.run.missing
                if all(parse_cell_id(cid).get(k) == v for k, v in match.items())]

    def comparison(self, *, dataset: str, backbone: str, seed: int, a: str, b: str) -> Comparison | None:
        return self.description.strategy_pair(dataset=dataset, backbone=backbone, seed=seed, a=a, b=b)

    def is_collapsed(self, c: CellResult) -> bool:
        return c.id in self.collapsed


def test_of(c: CellResult) -> SplitMetrics:
    return c.metrics.test


def cell_label(b: Builder, c: CellResult, multi_seed: bool) -> str:
    name = b.bb_label(c.cell.backbone)
    return f"{name} s{c.cell.seed}" if multi_seed else name


def chunks(cells: list[CellResult]) -> list[list[CellResult]]:
    """Runs split into groups of at most MAX_COLUMNS panels (one small-multiples figure each)."""
    return [cells[i:i + MAX_COLUMNS] for i in range(0, len(cells), MAX_COLUMNS)]
