"""Model selection as the labs show it: the candidate backbones' published ImageNet figures.

Report 000 chose its backbones from torchvision's weights table (acc@1, params, GFLOPS). The same
numbers live in each weights enum's ``meta`` and are read here offline — no weights are downloaded —
into ``candidates.json`` at the store root when a run starts. ``[report] candidates`` names the
backbones considered; the experiment's own backbones are always in the table, marked as chosen.
"""

from __future__ import annotations

import difflib
import logging
import os
from typing import Any

import torchvision

from ..config import Experiment
from ..errors import ConfigError, WeightsError
from ..store.schema import Candidate, CandidatesRecord
from . import lite
from .backbones import torchvision_classifiers
from .weights_meta import weights_meta_for

log = logging.getLogger(__name__)


def candidate_names() -> list[str]:
    """Names a candidate may take: every torchvision classifier and the offline EfficientNet-Lite family."""
    return sorted(torchvision_classifiers()) + sorted(lite.VARIANTS)


def check_candidates(exp: Experiment) -> None:
    """Every ``[report] candidates`` entry is a known model name (raises ConfigError with a did-you-mean)."""
    names = exp.report.candidates
    options = candidate_names()
    for i, name in enumerate(names):
        if name in options:
            continue
        close = difflib.get_close_matches(str(name), options, n=3, cutoff=0.5)
        raise ConfigError(f'unknown candidate backbone "{name}"', file=exp.source, key=f"report.candidates[{i}]",
                          expected="a torchvision classification model name (torchvision.models.list_models()) "
                          "or efficientnet_lite0/1/2",
                          fix=(f"did you mean {' or '.join(repr(c) for c in close)}?" if close
                               else "run `reportgen inspect --list` to see every name"))


def _lite_file_mb(name: str) -> float | None:
    """The offline weights file's size in MiB (torchvision's ``_file_size`` unit)."""
    try:
        return round(os.path.getsize(lite.weights_file(name)) / 2**20, 3)
    except (OSError, ImportError, AttributeError):
        return None


def candidate(name: str, *, chosen: bool, weights_spec: str = "DEFAULT") -> Candidate:
    """One backbone's published figures: its configured torchvision weights, else its DEFAULT weights."""
    meta: dict[str, Any] | None = None
    if name in lite.VARIANTS:
        meta = weights_meta_for(name, "offline")
        return Candidate(backbone=name, chosen=chosen, weights=(meta or {}).get("name"), acc1=None, acc5=None,
                         num_params=(meta or {}).get("num_params"), gflops=None, crop_size=None,
                         file_size_mb=_lite_file_mb(name), source="efficientnet-lite")
    if name in torchvision_classifiers():
        try:
            meta = weights_meta_for(name, weights_spec)
        except WeightsError:  # an unknown enum member is reported by preflight; the table uses DEFAULT
            meta = None
        if meta is None:  # weights = "none" or a .pth: the architecture's published DEFAULT figures
            meta = weights_meta_for(name, "DEFAULT")
    if not meta:
        return Candidate(backbone=name, chosen=chosen, weights=None, acc1=None, acc5=None, num_params=None,
                         gflops=None, crop_size=None, file_size_mb=None, source="none")
    return Candidate(backbone=name, chosen=chosen, weights=meta["name"], acc1=meta["acc1"], acc5=meta["acc5"],
                     num_params=meta["num_params"], gflops=meta["gflops"], crop_size=meta["crop_size"],
                     file_size_mb=meta["file_size_mb"], source="torchvision")


def candidates_record(exp: Experiment) -> CandidatesRecord:
    """The declared candidates in their order, then any chosen backbone the list left out."""
    chosen = {b.name: b.weights for b in exp.backbones}
    names = list(dict.fromkeys([*exp.report.candidates, *chosen]))
    rows = [candidate(n, chosen=n in chosen, weights_spec=chosen.get(n, "DEFAULT")) for n in names]
    return CandidatesRecord(torchvision=torchvision.__version__, candidates=rows)
