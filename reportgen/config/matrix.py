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

from .types import BackboneSpec, DatasetSpec, Experiment, TrainConfig

# Backbones with no pretrained weights can only be trained from scratch: "finetune" or "frozen"
# of a random network would be mislabelled scratch runs (or a random-feature probe).
NEEDS_PRETRAINED = ("finetune", "frozen", "warmup")

STRATEGY_SEMANTICS: dict[str, dict[str, Any]] = {
    "finetune": {"init": "pretrained", "backbone_trainable": True, "backbone_mode": "train",
                 "head": "new, trained"},
    "frozen": {"init": "pretrained", "backbone_trainable": False, "backbone_mode": "eval",
               "head": "new, trained"},
    "scratch": {"init": "random", "backbone_trainable": True, "backbone_mode": "train",
                "head": "new, trained"},
    "warmup": {"init": "pretrained", "backbone_trainable": "after warm-up", "backbone_mode": "eval, then train",
               "head": "new, trained"},
}


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
        sem = dict(STRATEGY_SEMANTICS[self.strategy])
        sem["frozen_epochs"] = (
            self.train.epochs if self.strategy == "frozen"
            else min(self.train.warmup_frozen_epochs, self.train.epochs) if self.strategy == "warmup"
            else 0
        )
        sem["description_key"] = f"strategy.{self.strategy}"
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
                    if s in NEEDS_PRETRAINED and b.weights.lower() == "none":
                        skipped.append(Skipped(**values, reason=f'"{s}" needs pretrained weights; '
                                               f'{b.name} has weights = "none" (only scratch applies)'))
                        continue
                    cells.append(Cell(dataset=d, backbone=b, strategy=s, seed=seed,
                                      train=exp.train_config(backbone=b.name, strategy=s)))
    return cells, skipped
