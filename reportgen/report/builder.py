"""The report builder: walks the document in reading order and numbers tables and figures as created.

Numbering in reading order lets the discussion cite "(Table 4)" correctly. Figures are *jobs* (a
plotting function and its data); :mod:`render` draws them, possibly in parallel. Every section reads
the typed store (:mod:`reportgen.schema`) through :class:`Builder`'s lookups, never raw JSON.
"""

from __future__ import annotations

import re
from typing import Any

from ..i18n import t
from ..report_config import pick
from ..schema import DatasetFacts, SplitMetrics
from ..store import CellResult, RunResults
from .format import markdown
from .labels import backbone_label, dataset_label
from .model import Cell, Figure, Note, Section, Table

STRATEGY_ORDER = ("finetune", "frozen", "warmup", "scratch")
SPLITS = ("train", "val", "test")
MAX_COLUMNS = 4  # panels per small-multiples figure: legible on A4 at full width


def slug(*parts: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


def _cells(row: list[Any]) -> list[Cell]:
    return [c if isinstance(c, Cell) else Cell(str(c)) for c in row]


def parse_cell_id(cid: str) -> dict[str, Any]:
    """``dataset-backbone-strategy-s<seed>-hash`` → parts (names may contain '-': strategy anchors it)."""
    m = re.match(r"^(?P<rest>.+)-(?P<strategy>finetune|frozen|scratch|warmup)-s(?P<seed>\d+)(-[0-9a-f]+)?$", cid)
    if not m:
        return {}
    ds, _, bb = m["rest"].partition("-")
    return {"dataset": ds, "backbone": bb, "strategy": m["strategy"], "seed": int(m["seed"])}


def stamp(c: CellResult, name: str) -> str:
    """Size and mtime of a file a figure reads itself, so its cache key changes when the file does."""
    try:
        st = (c.path / name).stat()
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


class Builder:
    """Collects sections in reading order and numbers tables and figures as they are created."""

    def __init__(self, run: RunResults, analysis: dict[str, Any], lang: str) -> None:
        self.run, self.analysis, self.lang = run, analysis, lang
        self.exp = run.experiment
        self.report_cfg = self.exp.get("report", {}) or {}
        self.notes: dict[str, Any] = self.report_cfg.get("notes") or {}
        # "brief" (render --brief, [report] detail): per-epoch logs, per-layer tables, run list and TOML left out.
        self.detail: str = self.report_cfg.get("detail") or "full"
        self.sections: list[Section] = []
        self.n_tables = 0
        self.n_figures = 0
        self.refs: dict[str, str] = {}  # "pivot:<dataset>" → "Table 7", for the discussion's citations
        self.collapsed: set[str] = {f.scope.get("cell_id") for f in analysis.get("findings", [])
                                    if f.id == "collapsed"}

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
        return self.tr(f"strategy.{s}.name") if s in STRATEGY_ORDER else s

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
        tab = Table(number=self.n_tables, anchor=f"tab-{self.n_tables}",
                    label=self.tr("ui.table_label", n=self.n_tables), caption=caption, header=header,
                    rows=[_cells(r) for r in rows], source=source, numeric_from=numeric_from, ref=ref)
        self.refs[ref] = tab.label
        sec.blocks.append(tab)
        return tab

    def figure(self, sec: Section, ref: str, caption: str, job: tuple[str, dict], *, source: str,
               wide: bool = False) -> Figure:
        self.n_figures += 1
        fig = Figure(number=self.n_figures, anchor=f"fig-{self.n_figures}",
                     label=self.tr("ui.figure_label", n=self.n_figures), caption=caption, alt=caption,
                     source=source, job=job, wide=wide, ref=ref)
        self.refs[ref] = fig.label
        sec.blocks.append(fig)
        return fig

    def ref(self, *keys: str) -> str:
        """The label of the first table/figure created under one of ``keys`` ("—" if none)."""
        found = [self.refs[k] for k in keys if k in self.refs]
        return ", ".join(found) or "—"

    # ---- lookups
    def datasets(self) -> list[str]:
        names = [d["name"] for d in self.exp.get("datasets", [])]
        return names or sorted({c.cell.dataset for c in self.run.cells})

    def backbones(self) -> list[str]:
        names = [b["name"] for b in self.exp.get("backbones", [])]
        return names or sorted({c.cell.backbone for c in self.run.cells})

    def strategies(self) -> list[str]:
        planned = self.exp.get("strategies") or sorted({c.cell.strategy for c in self.run.cells})
        return [s for s in STRATEGY_ORDER if s in planned] + [s for s in planned if s not in STRATEGY_ORDER]

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

    def comparison(self, *, dataset: str, backbone: str, seed: int, a: str, b: str) -> dict | None:
        for row in self.analysis.get("comparisons", []):
            if (row.get("kind") == "strategy" and row.get("dataset") == dataset and row.get("backbone") == backbone
                    and row.get("seed") == seed and row.get("strategy_a") == a and row.get("strategy_b") == b):
                return row
        return None

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
