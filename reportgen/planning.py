"""`reportgen plan`: the cells of a matrix with their size and an estimated cost, before training.

The cost estimate is deliberately simple and labelled as such: training MACs (3 × forward MACs
per training image per epoch, one forward pass per validation image) divided by a throughput
measured for this kind of device. Frozen cells with cached features pay one backbone pass per
image, not one per epoch.
"""

from __future__ import annotations

from typing import Any

import torch

from .config import Experiment
from .data.pipeline import is_random
from .models.backbones import build_model
from .models.stats import count_macs, count_params
from .models.strategies import set_stage
from .preflight import Preflight

# Rough sustained training throughput in MACs/s. Measured here: EfficientNet-Lite0 at 64 px ≈ 10 GMAC/s
# on 2 threads (small layers are overhead-bound), ResNet-18 at 224 px ≈ 44 GMAC/s (REFERENCE §4); a conservative H100 figure.
THROUGHPUT = {"cpu_per_thread": 6e9, "cuda": 20e12}


def _throughput() -> tuple[float, str]:
    if torch.cuda.is_available():
        return THROUGHPUT["cuda"], "cuda"
    return THROUGHPUT["cpu_per_thread"] * torch.get_num_threads(), f"cpu×{torch.get_num_threads()}"


def plan_rows(exp: Experiment, pf: Preflight) -> list[dict[str, Any]]:
    per_model: dict[tuple[str, str, int], dict[str, Any]] = {}
    rows = []
    rate, device = _throughput()
    for cell in pf.cells:
        ds = pf.datasets[cell.dataset.name]
        k = len(ds.classes)
        key = (cell.backbone.name, cell.strategy, cell.backbone.input_size)
        if key not in per_model:
            # Random init: counting needs the architecture, not the weights (no download here).
            from .models.backbones import WeightsChoice

            built = build_model(cell.backbone.name, WeightsChoice("none"), num_outputs=k,
                                input_size=cell.backbone.input_size, stem=cell.backbone.stem)
            set_stage(built.model, built.head_path, frozen=cell.strategy == "frozen")
            macs = count_macs(built.model, cell.backbone.input_size)["macs"]
            per_model[key] = {**count_params(built.model), "macs": macs}
        m = per_model[key]
        n = {s: len(src) for s, src in ds.source.splits.items()}
        t = cell.train
        macs = m["macs"] or 0
        if cell.strategy == "frozen" and not is_random(t["augment"]) and t["frozen_feature_cache"]:
            total = macs * (n["train"] + n["val"] + n["test"])
        else:
            total = macs * t["epochs"] * (3 * n["train"] + n["val"]) + macs * (n["val"] + n["test"])
        rows.append({"cell": cell.id, "dataset": cell.dataset.name, "backbone": cell.backbone.name,
                     "strategy": cell.strategy, "seed": cell.seed, "trainable": m["trainable"], "total": m["total"],
                     "input_size": cell.backbone.input_size, "epochs": t["epochs"], "n_train": n["train"],
                     "train_tmacs": total / 1e12, "est_minutes": total / rate / 60, "device": device,
                     "weights": pf.choice_for(cell).label})
    return rows


def _human(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def plan_table(rows: list[dict[str, Any]]) -> str:
    head = ["#", "dataset", "backbone", "strategy", "seed", "trainable", "total", "size", "epochs", "n_train",
            "TMACs", "≈ min"]
    body = [[str(i), r["dataset"], r["backbone"], r["strategy"], str(r["seed"]), _human(r["trainable"]),
             _human(r["total"]), f"{r['input_size']}px", str(r["epochs"]), str(r["n_train"]),
             f"{r['train_tmacs']:.2f}", f"{r['est_minutes']:.1f}"] for i, r in enumerate(rows, 1)]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if j >= 4 else c.ljust(w) for j, (c, w) in enumerate(zip(cells, widths, strict=False)))

    total_min = sum(r["est_minutes"] for r in rows)
    dev = rows[0]["device"] if rows else "cpu"
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body), "",
                      f"{len(rows)} cells, ≈ {total_min:.0f} min on {dev} (rough: MACs ÷ typical throughput)"])
