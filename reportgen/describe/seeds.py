"""Mean ± sd over seeds, one row per resolved configuration.

A configuration is everything in a cell's cell.json but its id and its seed. Cells kept from an earlier,
edited configuration (the store keeps every finished cell; an edited setting gives new cells a new id) are a
configuration of their own: pooling them with the new ones would report a changed setting as "seed
variability". Torch-free.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..store import CellResult, RunResults
from .metrics import mean_sd
from .model import SEED_METRICS, MeanSd, SeedSummary

SOURCE = "reportgen.describe.metrics.mean_sd over cells/*/metrics.json (test), per resolved configuration"


def _resolved(cell: CellResult) -> dict[str, Any]:
    return cell.cell.model_dump(mode="json", exclude={"id", "seed"})


def config_key(cell: CellResult) -> str:
    """A short hash of the cell's resolved configuration without its seed (equal for the seeds of one config)."""
    blob = json.dumps(_resolved(cell), sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:8]


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _differences(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per configuration, the settings whose value is not the same in all of ``configs``."""
    flat = [_flat(c) for c in configs]
    keys = sorted({k for f in flat for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat}) > 1]
    # strategy_semantics is derived from [train] (e.g. frozen_epochs from epochs): named only when nothing else is.
    told = [k for k in varying if not k.startswith("strategy_semantics.")] or varying
    return [{k: f.get(k) for k in told} for f in flat]


def seed_summaries(run: RunResults) -> list[SeedSummary]:
    """One row per (dataset, backbone, strategy, configuration), in the order the cells were loaded."""
    groups: dict[tuple[str, str, str, str], list[CellResult]] = {}
    for c in run.cells:
        groups.setdefault((c.cell.dataset, c.cell.backbone, c.cell.strategy, config_key(c)), []).append(c)
    siblings: dict[tuple[str, str, str], list[tuple[str, str, str, str]]] = {}
    for key in groups:
        siblings.setdefault(key[:3], []).append(key)
    # Rows in first-seen order of dataset × backbone × strategy, the configurations of one such triple together.
    groups = {key: groups[key] for keys in siblings.values() for key in keys}
    differs: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for keys in siblings.values():
        if len(keys) > 1:
            for key, diff in zip(keys, _differences([_resolved(groups[k][0]) for k in keys]), strict=True):
                differs[key] = diff
    return [SeedSummary(dataset=ds, backbone=bb, strategy=s, config=cfg, seeds=[c.cell.seed for c in cells],
                        cells=[c.id for c in cells], differs=differs.get((ds, bb, s, cfg), {}),
                        **{m: MeanSd(**mean_sd([getattr(c.test, m) for c in cells])) for m in SEED_METRICS})
            for (ds, bb, s, cfg), cells in groups.items()]
