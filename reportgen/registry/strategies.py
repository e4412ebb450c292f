"""The transfer-learning strategies: one entry per strategy, every fact about it in that entry.

An entry says what the config accepts, which backbones it applies to (``needs_pretrained``), which
parameters train in each of its stages (read by :mod:`reportgen.models.strategies`, which applies them to a
torch model), how ``cell.json`` describes it (``semantics``: hashed into the cell id, so these values must not
change), where its wording lives in the i18n catalogs (``<catalog>.<key>.name`` / ``.desc``), its rank in
tables and pairs (the tuple's order), and its colour, line and marker in every figure.

Torch-free on purpose: :mod:`reportgen.config` validates ``experiment.strategies`` against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stage:
    name: str  # epochs.csv's ``stage`` column
    trains: str  # "head": the head (and newly initialised layers) only; "all": every parameter


@dataclass(frozen=True)
class Style:
    """Okabe–Ito colours (readable with colour-vision deficiency), one per strategy in every figure."""

    color: str
    ls: str
    marker: str

    def as_dict(self) -> dict[str, str]:
        return {"color": self.color, "ls": self.ls, "marker": self.marker}


@dataclass(frozen=True)
class Strategy:
    name: str
    needs_pretrained: bool  # a backbone with weights = "none" gets a skipped cell, not a mislabelled scratch run
    stages: tuple[Stage, ...]  # a two-stage strategy switches after train.warmup_frozen_epochs
    semantics: dict[str, Any]  # cell.json strategy_semantics (hashed into the cell id: never edit)
    style: Style
    default: bool  # in the experiment's default ``strategies`` list
    catalog: str = "report"  # the i18n domain holding this strategy's wording

    @property
    def key(self) -> str:
        """The catalog key under :attr:`catalog` (``<key>.name``, ``<key>.desc``); cell.json stores it too."""
        return f"strategy.{self.name}"

    def wording_key(self, part: str = "name") -> str:
        return f"{self.catalog}.{self.key}.{part}"

    def wording(self, lang: str, part: str = "name") -> str:
        """The strategy's name (or ``desc``) in ``lang`` from the i18n catalog."""
        from ..i18n import t

        return t(lang, self.wording_key(part))


_HEAD = Stage("frozen", "head")
_ALL = Stage("finetune", "all")
_NEW_HEAD = "new, trained"

# The tuple's order is the reading order of every table, legend and pair ("x vs scratch" keeps scratch as b).
REGISTRY: tuple[Strategy, ...] = (
    Strategy("finetune", needs_pretrained=True, stages=(_ALL,),
             semantics={"init": "pretrained", "backbone_trainable": True, "backbone_mode": "train",
                        "head": _NEW_HEAD},
             style=Style("#0072B2", "-", "o"), default=True),
    Strategy("frozen", needs_pretrained=True, stages=(_HEAD,),
             semantics={"init": "pretrained", "backbone_trainable": False, "backbone_mode": "eval",
                        "head": _NEW_HEAD},
             style=Style("#E69F00", "--", "s"), default=True),
    Strategy("warmup", needs_pretrained=True, stages=(_HEAD, _ALL),
             semantics={"init": "pretrained", "backbone_trainable": "after warm-up",
                        "backbone_mode": "eval, then train", "head": _NEW_HEAD},
             style=Style("#009E73", "-.", "^"), default=False),
    Strategy("scratch", needs_pretrained=False, stages=(Stage("scratch", "all"),),
             semantics={"init": "random", "backbone_trainable": True, "backbone_mode": "train",
                        "head": _NEW_HEAD},
             style=Style("#D55E00", ":", "D"), default=True),
)
BY_NAME: dict[str, Strategy] = {s.name: s for s in REGISTRY}

# ---- views (derived, never spelled out again)
NAMES: tuple[str, ...] = tuple(BY_NAME)  # reading order
ACCEPTED: tuple[str, ...] = tuple(sorted(NAMES))  # as config error messages list them (alphabetical)
DEFAULTS: tuple[str, ...] = tuple(s.name for s in REGISTRY if s.default)
NEEDS_PRETRAINED: tuple[str, ...] = tuple(s.name for s in REGISTRY if s.needs_pretrained)
STAGE_NAMES: tuple[str, ...] = tuple(dict.fromkeys(st.name for s in REGISTRY for st in s.stages))
STYLE: dict[str, dict[str, str]] = {s.name: s.style.as_dict() for s in REGISTRY}
# A cell id is ``dataset-backbone-strategy-s<seed>-hash``; names may contain "-", the strategy anchors it.
CELL_ID = re.compile(rf"^(?P<rest>.+)-(?P<strategy>{'|'.join(map(re.escape, NAMES))})-s(?P<seed>\d+)(-[0-9a-f]+)?$")


def get(name: str) -> Strategy:
    return BY_NAME[name]


def rank(name: str) -> int:
    """Position in reading order; a name the registry does not know sorts after every known one."""
    return NAMES.index(name) if name in BY_NAME else len(NAMES)


def ordered(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` in reading order; unknown names keep their given order after the known ones."""
    names = list(names)
    return sorted(names, key=rank)  # sorted() is stable: ties keep their given order


def stage_index(strategy: str, epoch: int, *, warmup_frozen_epochs: int) -> int:
    """Which of the strategy's stages ``epoch`` (1-based) belongs to: a two-stage strategy leaves its first
    stage after ``warmup_frozen_epochs`` epochs."""
    if len(BY_NAME[strategy].stages) > 1:
        return 0 if epoch <= warmup_frozen_epochs else 1
    return 0


def stage_at(strategy: str, epoch: int, *, warmup_frozen_epochs: int) -> Stage:
    return BY_NAME[strategy].stages[stage_index(strategy, epoch, warmup_frozen_epochs=warmup_frozen_epochs)]


def planned_stages(strategy: str, *, epochs: int, warmup_frozen_epochs: int) -> list[tuple[Stage, int]]:
    """``(stage, first epoch)`` for every stage that starts within ``epochs`` (a warm-up longer than the
    run never reaches its fine-tune stage)."""
    out: list[tuple[Stage, int]] = []
    for epoch in range(1, epochs + 1):
        st = stage_at(strategy, epoch, warmup_frozen_epochs=warmup_frozen_epochs)
        if not out or out[-1][0] != st:
            out.append((st, epoch))
    return out


def frozen_epochs(strategy: str, *, epochs: int, warmup_frozen_epochs: int) -> int:
    """How many of ``epochs`` train the head only (cell.json ``strategy_semantics.frozen_epochs``)."""
    stages = BY_NAME[strategy].stages
    if all(st.trains == "head" for st in stages):
        return epochs
    if stages[0].trains == "head":
        return min(warmup_frozen_epochs, epochs)
    return 0
