"""Experiment → the list of cells (dataset × backbone × strategy × seed), each with a stable id.

A cell id is readable (``pneumoniamnist-resnet18-frozen-s0``) plus a short hash of its fully
resolved configuration, so changing any setting of a cell gives it a new folder instead of
silently reusing results trained with other settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..registry import strategies as strategy_registry
from .types import BackboneSpec, DatasetSpec, Experiment, TrainConfig

# Backbones with no pretrained weights can only be trained from scratch: fine-tuning or freezing
# a random network would be a mislabelled scratch run (or a random-feature probe).
NEEDS_PRETRAINED = strategy_registry.NEEDS_PRETRAINED


@dataclass(frozen=True)
class Cell:
    """One training run of the matrix."""

    dataset: DatasetSpec
    backbone: BackboneSpec
    strategy: str
    seed: int
    train: TrainConfig = field(hash=False, compare=False)

    @property
    def weights(self) -> str:
        return "none" if self.strategy == "scratch" else self.backbone.weights

    def semantics(self) -> dict[str, Any]:
        strategy = strategy_registry.get(self.strategy)
        sem = dict(strategy.semantics)
        sem["frozen_epochs"] = strategy_registry.frozen_epochs(
            self.strategy, epochs=self.train.epochs, warmup_frozen_epochs=self.train.warmup_frozen_epochs)
        sem["description_key"] = strategy.key
        return sem

    def resolved(self) -> dict[str, Any]:
        """Everything that determines this cell's result (hashed into its id, saved as cell.json)."""
        d = self.dataset
        return {
            "dataset": d.name,
            "dataset_source": {"kind": d.kind, "path": str(d.path) if d.path else None,
                               "train_csv": str(d.train_csv) if d.train_csv else None,
                               "max_train_samples": d.max_train_samples, "val_fraction": d.val_fraction,
                               "min_val_size": d.min_val_size, "split_seed": d.split_seed, "color": d.color},
            "backbone": self.backbone.name,
            "weights": self.weights,
            "strategy": self.strategy,
            "seed": self.seed,
            "input_size": self.backbone.input_size,
            "strategy_semantics": self.semantics(),
            "train": self.train.to_dict(),  # the JSON the id has always hashed (typed values as written)
            # Only when set: a default-stem cell keeps the id it had before the key existed.
            **({"stem": self.backbone.stem} if self.backbone.stem != "default" else {}),
        }

    @property
    def id(self) -> str:
        blob = json.dumps(self.resolved(), sort_keys=True, default=str).encode()
        digest = hashlib.sha1(blob).hexdigest()[:8]
        return f"{self.dataset.name}-{self.backbone.name}-{self.strategy}-s{self.seed}-{digest}"


@dataclass(frozen=True)
class Skipped:
    dataset: str
    backbone: str
    strategy: str
    seed: int
    reason: str


def _excluded(exp: Experiment, values: dict[str, Any]) -> bool:
    return any(all(values[k] == v for k, v in rule.items()) for rule in exp.exclude)


def build_cells(exp: Experiment) -> tuple[list[Cell], list[Skipped]]:
    """The matrix in a stable order: dataset, backbone, strategy, seed."""
    cells: list[Cell] = []
    skipped: list[Skipped] = []
    for d in exp.datasets:
        for b in exp.backbones:
            for s in exp.strategies:
                for seed in exp.seeds:
                    values = {"dataset": d.name, "backbone": b.name, "strategy": s, "seed": seed}
                    if _excluded(exp, values):
                        skipped.append(Skipped(**values, reason="excluded in the experiment file"))
                        continue
                    if strategy_registry.get(s).needs_pretrained and b.weights.lower() == "none":
                        skipped.append(Skipped(**values, reason=f'"{s}" needs pretrained weights; '
                                               f'{b.name} has weights = "none" (only scratch applies)'))
                        continue
                    cells.append(Cell(dataset=d, backbone=b, strategy=s, seed=seed,
                                      train=exp.train_config(backbone=b.name, strategy=s)))
    return cells, skipped
