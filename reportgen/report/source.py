"""Which configuration a report is rendered from: the results store's copy, or the TOML the user gives.

``render``, ``status``, ``check`` and ``export`` take either the run folder or the experiment TOML. Keys
that only change the report (titles, notes, tasks and answers, backbone reasons, language, cover) are
read from the TOML given, so a note or an answer edited after the run appears after ``render`` alone.
Keys that change results (data, backbones, strategies, seeds, training settings) are never taken from a
TOML at render time: the numbers come from the cells as trained, so a changed training key is a warning
that ``run`` is needed, and the report says it was rendered from the stored configuration.

Given the run folder, the store's copy is used; when the TOML recorded in run.json (``source``) still
exists and its report-only keys differ, a warning names them (and how to use them). Nothing here
imports torch or writes to the store.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ReportgenError

# Report-only keys per part of run.json's "experiment" (config.Experiment.to_dict).
REPORT_SPEC_KEYS = {"datasets": ("label", "description", "credit", "modality"),
                    "backbones": ("reason", "label")}
IGNORED = ("name", "source")  # where the TOML lives and the run's name: not a setting of the cells
UNSEEN_DATE = "date"  # defaults to the day the TOML is read: a difference in it alone says nothing


@dataclass
class Source:
    """The run folder to read, the TOML given (None: the run folder was given), and what differs."""

    run_dir: Path
    toml: Path | None = None
    report_keys: list[str] = field(default_factory=list)  # report-only keys that differ from the store's copy
    training_keys: list[str] = field(default_factory=list)  # results-affecting keys that differ
    warnings: list[str] = field(default_factory=list)  # terminal lines, one per problem

    @property
    def stale(self) -> bool:
        """The TOML given changes results: the report is rendered from the stored configuration."""
        return bool(self.training_keys)


def is_toml(path: Path) -> bool:
    return Path(path).suffix.lower() == ".toml" and not Path(path).is_dir()


def locate(target: Path) -> Source:
    """The run folder of ``target`` (a run folder, or an experiment TOML whose results folder it names)."""
    target = Path(target)
    if not is_toml(target):
        return Source(run_dir=target)
    from ..config import load_experiment

    exp = load_experiment(target)  # a bad TOML is a ConfigError naming file and key, before anything else
    return Source(run_dir=exp.run_dir, toml=target)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: d}


def _by_name(items: list[dict]) -> dict[str, dict]:
    return {str(x.get("name")): x for x in items or []}


def split_differences(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(report-only keys, results-affecting keys) whose values differ between two ``experiment`` dicts."""
    report, training = [], []
    for k in sorted(set(old.get("report") or {}) | set(new.get("report") or {})):
        if k != UNSEEN_DATE and (old.get("report") or {}).get(k) != (new.get("report") or {}).get(k):
            report.append(f"report.{k}")
    for part, only in REPORT_SPEC_KEYS.items():
        a, b = _by_name(old.get(part, [])), _by_name(new.get(part, []))
        for name in sorted(set(a) | set(b)):
            if name not in a or name not in b:
                training.append(f"{part}[{name}]")
                continue
            for k in sorted(set(a[name]) | set(b[name])):
                if k == "key" or a[name].get(k) == b[name].get(k):
                    continue
                (report if k in only else training).append(f"{part}[{name}].{k}")
    skip = {"report", *REPORT_SPEC_KEYS, *IGNORED}
    flat_old = _flatten({k: v for k, v in old.items() if k not in skip})
    flat_new = _flatten({k: v for k, v in new.items() if k not in skip})
    training += sorted(k for k in set(flat_old) | set(flat_new) if flat_old.get(k) != flat_new.get(k))
    return report, training


def apply_report_keys(stored: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with every report-only key taken from ``new`` (the results-affecting keys kept as stored)."""
    out = copy.deepcopy(stored)
    out["report"] = copy.deepcopy(new.get("report") or {})
    for part, only in REPORT_SPEC_KEYS.items():
        fresh = _by_name(new.get(part, []))
        for spec in out.get(part, []):
            src = fresh.get(str(spec.get("name")))
            if src is not None:
                for k in only:
                    if k in src:
                        spec[k] = copy.deepcopy(src[k])
    return out


def _short(keys: list[str], n: int = 6) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def reconcile(source: Source, run: Any) -> Source:
    """Bring the report-only keys of ``source.toml`` into ``run`` (a loaded RunResults), in memory only.

    Given a run folder, compares the store's copy with the TOML recorded in run.json and only warns.
    Fills ``source.report_keys``, ``training_keys`` and ``warnings``; returns ``source``.
    """
    from ..config import load_experiment

    stored = run.run.experiment.to_dict()  # compared and merged as JSON, then typed again below
    if source.toml is not None:
        new = load_experiment(source.toml).to_dict()
        source.report_keys, source.training_keys = split_differences(stored, new)
        merged = type(run.run.experiment).model_validate(apply_report_keys(stored, new))
        run.run = run.run.model_copy(update={"experiment": merged})  # records are frozen
        if "report.candidates" in source.report_keys:  # its table is candidates.json, written by `run` (torchvision)
            source.warnings.append(
                f"{source.toml} changes report.candidates: the candidates table is read from candidates.json, "
                f"which `reportgen run {source.toml}` rewrites (finished cells are kept, nothing retrains)")
        if source.training_keys:
            source.warnings.append(
                f"{source.toml} changes settings the results depend on ({_short(source.training_keys)}): "
                f"the report shows the cells as trained, from the stored configuration; run "
                f"`reportgen run {source.toml}` to train with the new settings")
        return source
    recorded = Path(run.run.source) if run.run.source else None
    if recorded is None or not recorded.is_file():
        return source
    try:
        new = load_experiment(recorded).to_dict()
    except (ReportgenError, OSError):
        return source  # a TOML being edited into shape: the store's copy is what this render uses anyway
    report, _ = split_differences(stored, new)
    if report:
        source.report_keys = report
        source.warnings.append(
            f"{recorded} differs from this run's stored configuration in {_short(report)}; the report uses the "
            f"stored values: render the TOML to use its texts (reportgen render {recorded})")
    return source
