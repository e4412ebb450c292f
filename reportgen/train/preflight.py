"""Everything that can be checked before compute is spent, in one pass.

`reportgen validate`, `reportgen plan` and `reportgen run` all start here, so an unknown
backbone, weights that cannot be had offline, an input size a network cannot take, a missing
folder or a label out of range stop the run *before* anything is written to the results store.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DatasetSpec, Experiment
from ..config.matrix import Cell, Skipped, build_cells
from ..data import Dataset, open_dataset, pipeline
from ..errors import ConfigError, DataError, WeightsError
from ..models.backbones import (
    WeightsChoice,
    check_backbone_name,
    check_input_size,
    check_weights_available,
    resolve_weights,
    smallest_input_size,
)
from ..models.candidates import check_candidates
from ..models.stem import stem_problem


@dataclass
class Preflight:
    cells: list[Cell]
    skipped: list[Skipped]
    datasets: dict[str, Dataset]
    weights: dict[str, WeightsChoice]
    weights_status: dict[str, str]
    warnings: list[dict] = field(default_factory=list)

    def choice_for(self, cell: Cell) -> WeightsChoice:
        return WeightsChoice("none") if cell.strategy == "scratch" else self.weights[cell.backbone.name]


def preflight(exp: Experiment, *, check_images: bool = False) -> Preflight:
    """Validate backbones, weights, input sizes and data. Raises a ReportgenError on the first problem."""
    src = exp.source
    weights: dict[str, WeightsChoice] = {}
    status: dict[str, str] = {}
    check_candidates(exp)
    for b in exp.backbones:
        check_backbone_name(b.name, file=src, key=f"{b.key}.name")
        problem = check_input_size(b.name, b.input_size)
        if problem is not None:
            smallest = smallest_input_size(b.name)
            raise ConfigError(f"{b.name} cannot take {b.input_size}×{b.input_size} inputs ({problem})",
                              file=src, key=f"{b.key}.input_size",
                              expected=(f"input_size ≥ {smallest} for {b.name}" if smallest
                                        else "a size this backbone accepts"),
                              fix=f"set input_size = {smallest or 224} (images are resized once, when decoded)")
        if b.stem != "default" and (why := stem_problem(b.name)):
            raise ConfigError(f'stem = "{b.stem}" is not available for {b.name}', file=src, key=f"{b.key}.stem",
                              expected=why, fix='remove stem (or use stem = "default") for this backbone')
        weights[b.name] = resolve_weights(b.name, b.weights, base=src.parent, file=src, key=f"{b.key}.weights")
    pipeline.check_experiment(exp)  # a pipeline that cannot fit is a config error, before any data is read
    datasets = {d.name: _open(d, src) for d in exp.datasets}
    cells, skipped = build_cells(exp)
    if not cells:
        if exp.exclude:
            raise ConfigError("the matrix is empty: every cell is excluded or not applicable", file=src,
                              key="exclude", fix="remove an [[exclude]] rule or add a strategy/backbone")
        reasons = sorted({s.reason for s in skipped})
        raise ConfigError("the matrix is empty: no strategy applies to any backbone"
                          + (f" ({'; '.join(reasons)})" if reasons else ""), file=src, key="experiment.strategies",
                          fix="add a strategy that fits the backbones (a baseline such as smallcnn trains only "
                          '"scratch"), or add a pretrained backbone')
    for b in exp.backbones:  # an unloadable or mismatched .pth fails now, not when its cell starts
        if weights[b.name].kind == "path" and any(c.backbone.name == b.name and c.strategy != "scratch"
                                                  for c in cells):
            _check_weights_file(b.name, weights[b.name], input_size=b.input_size, file=src, key=f"{b.key}.weights")
    if check_images:
        # The same decode step `run` does first (a full decode: a truncated JPEG has a valid header),
        # into the same cache, so the run that follows does not decode again.
        for c in cells:
            datasets[c.dataset.name].decoded(c.backbone.input_size, augment=c.train.augment)
    # Only weights that some cell will load must be obtainable (a scratch-only backbone needs none).
    needed = {c.backbone.name for c in cells if c.strategy != "scratch"}
    for b in exp.backbones:
        if b.name in needed:
            status[b.name] = check_weights_available(weights[b.name], file=src, key=f"{b.key}.weights")
    for c in cells:
        if c.train.loss == "bce" and len(datasets[c.dataset.name].classes) != 2:
            raise ConfigError(f'loss = "bce" needs a binary dataset; {c.dataset.name} has '
                              f"{len(datasets[c.dataset.name].classes)} classes", file=src, key="train.loss",
                              expected='"ce" for more than two classes')
    warnings: list[dict] = []
    try:
        from ..describe.checks import dataset_findings_from_facts
        from ..store.schema import DatasetFacts

        for ds in datasets.values():
            warnings += dataset_findings_from_facts(DatasetFacts(**ds.facts()))
    except ImportError:  # checks are advisory; validation must not depend on them
        pass
    return Preflight(cells=cells, skipped=skipped, datasets=datasets, weights=weights, weights_status=status,
                     warnings=warnings)


def _check_weights_file(name: str, choice: WeightsChoice, *, input_size: int, file: Path, key: str) -> None:
    """Load a user's .pth (``weights_only``: an untrusted pickle runs no code) and fit it to the architecture."""
    import pickle

    import torch

    from ..models.backbones import build_base

    path = choice.path
    fix = f"point {key} in {file.name} at a {name} state dict saved with torch.save(model.state_dict(), path)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = "weights only load failed" in str(exc).lower()
        raise WeightsError("cannot load state dict: " + (
            "it holds Python objects other than tensors, which reportgen refuses to unpickle "
            "(an untrusted file could run code)" if unsafe else "not a PyTorch weights file"),
            file=path, expected="a state dict (tensors only)", fix=fix) from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many kinds on a damaged or foreign file
        raise WeightsError(f"cannot load state dict: not a PyTorch weights file ({type(exc).__name__})",
                           file=path, expected="a state dict saved with torch.save", fix=fix) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        what = type(state).__name__ if not isinstance(state, dict) else "a dict that is not name → tensor"
        raise WeightsError(f"the file holds {what}, not a state dict", file=path,
                           expected="a dict of parameter name → tensor", fix=fix)
    try:
        build_base(name, choice, input_size=input_size)
    except WeightsError as exc:
        exc.message = f"{exc.message} (declared at {key})"
        raise
    except Exception as exc:  # noqa: BLE001 - tensors of a foreign kind that load_state_dict rejects
        raise WeightsError(f"cannot use this file as {name} weights ({type(exc).__name__})", file=path,
                           expected=f"a {name} state dict", fix=fix) from None


def _open(spec: DatasetSpec, toml: Path) -> Dataset:
    """Open a dataset; a bad *configured* path is reported against the TOML key that set it."""
    try:
        return open_dataset(spec)
    except DataError as exc:
        hint = _case_hint(spec, exc)
        if hint:
            exc.fix = hint
        if exc.key and exc.key.startswith(spec.key) and exc.file is not None:
            exc.message = f"{exc.message}: {os.path.abspath(exc.file)}"
            exc.file = toml
        raise


def _case_hint(spec: DatasetSpec, exc: DataError) -> str | None:
    """A declared class that matches a folder or a CSV label except for case: say so (names are case-sensitive)."""
    if not spec.classes:
        return None
    found: set[str] = set()
    if spec.kind == "folder" and spec.path is not None and spec.path.is_dir():
        for split in ("train", "val", "test"):
            d = spec.path / split
            if d.is_dir():
                found |= {c.name for c in d.iterdir() if c.is_dir()}
    found |= set(re.findall(r'unknown label "([^"]*)"', exc.message))
    pairs = [(c, f) for c in spec.classes for f in sorted(found) if c != f and c.lower() == f.lower()]
    if not pairs:
        return None
    what = "the folder" if spec.kind == "folder" else "the data"
    said = "; ".join(f'you wrote "{c}", {what} says "{f}"' for c, f in pairs)
    fixed = [next((f for c2, f in pairs if c2 == c), c) for c in spec.classes]
    return (f"class names differ only in case ({said}); names are case-sensitive: write classes = ["
            + ", ".join(f'"{c}"' for c in fixed) + f"] in {spec.key}")
