"""Patient-level splits: each image's group, a validation split carved by group, overlap counts.

One patient contributes several images (Kermany's ``person1_bacteria_1.jpeg``, ``person1_bacteria_2.jpeg``);
carving validation by image puts the same patient in train and validation, so validation scores measure
recognising a patient, not the disease. A dataset declares its groups with ``group_column`` (a CSV
column) or ``group_pattern`` (a regex on the file name whose first group is the patient). Then:

- validation is carved stratified *and* grouped (scikit-learn's ``StratifiedGroupKFold``, shuffled with
  ``split_seed``; one fold of ``round(1 / val_fraction)``), so no group is on both sides;
- :func:`overlap_record` counts groups found in more than one split, official splits included (a
  shipped train/test pair can share patients); ``reportgen.describe.checks`` raises a high-severity finding.

Every image must get a group: a file the pattern does not match is an error naming it, never a silent
group of its own (that would undercount the overlap).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DatasetSpec
from ..errors import DataError

SPLITS = ("train", "val", "test")
EXAMPLES = 5  # overlapping groups listed in the record (the counts are always complete)


def declared(spec: DatasetSpec) -> bool:
    return bool(spec.group_column or spec.group_pattern)


def rule(spec: DatasetSpec) -> dict[str, str]:
    return ({"by": "column", "rule": str(spec.group_column)} if spec.group_column
            else {"by": "pattern", "rule": str(spec.group_pattern)})


def labeler(spec: DatasetSpec) -> Callable[[Path], str | None]:
    """A function image path → its group (None when it has none)."""
    if spec.group_pattern:
        rx = re.compile(spec.group_pattern)

        def by_name(path: Path) -> str | None:
            m = rx.search(Path(path).name)
            if m is None:
                return None
            # The first group that matched (a pattern may offer alternatives); the whole match if none.
            return next((g for g in m.groups() if g is not None), m.group(0))

        return by_name
    table = _csv_groups(spec)
    return lambda path: table.get(Path(path).resolve())


def _csv_groups(spec: DatasetSpec) -> dict[Path, str]:
    """Image path → group value from every CSV list (paths resolved as the CSV loader resolves them)."""
    root = spec.image_root or (spec.train_csv.parent if spec.train_csv else Path("."))
    out: dict[Path, str] = {}
    for csv_path in (spec.train_csv, spec.val_csv, spec.test_csv):
        if csv_path is None or not csv_path.is_file():
            continue
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if spec.group_column not in (reader.fieldnames or []):
                raise DataError(f'group column "{spec.group_column}" not found', file=csv_path,
                                key=f"{spec.key}.group_column",
                                expected=f"one of the CSV's columns: {reader.fieldnames}",
                                fix="set group_column to the column that names the patient")
            for line, row in enumerate(reader, start=2):
                rel = (row.get(spec.path_column) or "").strip()
                group = (row.get(spec.group_column) or "").strip()
                if not rel:
                    continue  # the CSV loader reports rows without an image
                if not group:
                    raise DataError(f'line {line} has no "{spec.group_column}" value', file=csv_path,
                                    key=f"{spec.key}.group_column", fix="fill in every row's group (patient)")
                p = Path(rel if Path(rel).suffix else rel + spec.image_suffix)  # as sources._load_csv does
                out[(p if p.is_absolute() else root / p).resolve()] = group
    return out


def groups_of(files: list[Path] | None, label: Callable[[Path], str | None], spec: DatasetSpec,
              split: str) -> np.ndarray:
    """The group of every file (a str array); an image without a group is a DataError."""
    if files is None:
        raise DataError("groups need image files, and this dataset holds arrays", key=f"{spec.key}.group_pattern",
                        fix="remove group_column / group_pattern")
    groups = [label(f) for f in files]
    missing = [f for f, g in zip(files, groups, strict=True) if g is None]
    if missing:
        how = (f'the pattern "{spec.group_pattern}" does not match' if spec.group_pattern
               else f'no "{spec.group_column}" value was found for')
        raise DataError(f"{how} {len(missing)} of {len(files)} {split} images, e.g. {Path(missing[0]).name}",
                        file=missing[0], key=f"{spec.key}.group_pattern" if spec.group_pattern
                        else f"{spec.key}.group_column", expected="a group (patient) for every image",
                        fix="widen the pattern (alternatives: '(person\\d+|IM-\\d+)'), or fill in the column")
    return np.asarray(groups, dtype=object)


def carve(labels: np.ndarray, groups: np.ndarray, fraction: float, *, seed: int, spec: DatasetSpec
          ) -> tuple[np.ndarray, dict[str, Any]]:
    """Validation indices: one fold of a seeded ``StratifiedGroupKFold`` with ``round(1 / fraction)`` folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, round(1 / fraction))
    n_groups = len(set(groups.tolist()))
    if n_groups < n_splits:
        raise DataError(f"only {n_groups} groups to carve a {fraction:g} validation split by group "
                        f"({n_splits} folds)", key=f"{spec.key}.val_fraction",
                        expected=f"at least {n_splits} groups (patients)",
                        fix="raise val_fraction, provide an official val split, or check the group rule")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, vidx = next(folds.split(np.zeros(len(labels)), labels, groups))
    vidx = np.sort(vidx)
    info = {**rule(spec), "method": f"StratifiedGroupKFold(n_splits={n_splits}, shuffle=True, "
                                    f"random_state={seed})", "fold": 0, "n_splits": n_splits,
            "seed": seed, "groups_total": n_groups, "groups_val": len(set(groups[vidx].tolist())),
            "fraction_actual": len(vidx) / len(labels)}
    return vidx, info


def overlap_record(splits: dict[str, Any], spec: DatasetSpec) -> dict[str, Any] | None:
    """Groups per split and groups present in more than one split (None when no groups are declared).

    ``{"by", "rule", "per_split": {split: n_groups}, "overlap": {"train–test": n, ...},
    "in_several": n, "images_in_several": {split: n}, "examples": [group, ...]}``.
    """
    if not declared(spec):
        return None
    label = labeler(spec)
    sets = {s: groups_of(splits[s].files, label, spec, s) for s in SPLITS if s in splits}
    uniq = {s: set(g.tolist()) for s, g in sets.items()}
    names = list(uniq)
    overlap = {f"{a}–{b}": len(uniq[a] & uniq[b]) for i, a in enumerate(names) for b in names[i + 1:]}
    several = sorted({g for i, a in enumerate(names) for b in names[i + 1:] for g in uniq[a] & uniq[b]})
    shared = set(several)
    return {**rule(spec), "per_split": {s: len(u) for s, u in uniq.items()}, "overlap": overlap,
            "in_several": len(several),
            "images_in_several": {s: int(sum(1 for g in sets[s] if g in shared)) for s in names},
            "examples": several[:EXAMPLES]}
