"""Reading the results store's files: JSON objects, CSV tables, predictions and typed records.

Every reader turns a missing, damaged or hand-edited file into one :class:`~reportgen.errors.StoreError`
naming the file (and the key or row), never a traceback or a silent "n/a". These are the primitives;
:mod:`reportgen.store.load` is the one place that decides which files of a run are read, checks the
links on the way and hands the report typed objects. Torch-free: ``render`` imports this module.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from ..errors import StoreError
from .schema import SCHEMA, EpochRow, Record

RESULT_FILE = "result.json"  # written last: its presence marks a finished cell
FAILED_FILE = "failed.json"  # left by a failed attempt (reportgen.store.status writes it)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError("file is missing from the results store", file=path,
                         fix="rerun `reportgen run` for this experiment") from None
    except json.JSONDecodeError as exc:
        raise StoreError(f"not valid JSON ({exc.msg} at line {exc.lineno})", file=path,
                         fix="delete the cell folder and rerun `reportgen run`") from None
    except UnicodeDecodeError:
        raise StoreError("not UTF-8 text (the file was damaged or replaced)", file=path,
                         fix="delete the cell folder and rerun `reportgen run`") from None


def read_json_object(path: Path) -> dict:
    """A JSON file that must hold an object (``{...}``): anything else is a StoreError naming the file."""
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise StoreError(f"holds a JSON {type(obj).__name__}, not an object", file=path, expected="{...}",
                         fix="restore the file or delete it and rerun `reportgen run`")
    return obj



def read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        raise StoreError("file is missing from the results store", file=path,
                         fix="rerun `reportgen run` for this experiment") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise StoreError(f"not a readable CSV file ({type(exc).__name__})", file=path,
                         fix="delete the cell folder and rerun `reportgen run`") from None


def _malformed(path: Path, what: str) -> StoreError:
    return StoreError(f"malformed {what}", file=path, expected="the format in docs/results-store.md",
                      fix="delete the cell folder and rerun `reportgen run`")


PREDICTION_COLUMNS = ("index", "sample_id", "label")


@dataclass(frozen=True)
class Predictions:
    """Per-sample probabilities of one split, in split order, with each sample's identity in its source."""

    index: np.ndarray  # int (N,): position in the split
    sample_id: list[str]  # file path relative to the dataset root, or "<split>[i]" for array datasets
    labels: np.ndarray  # int (N,)
    probs: np.ndarray  # float64 (N, K)


def read_predictions(path: Path) -> Predictions:
    """Load a predictions CSV; a ragged or non-numeric file is a StoreError naming the file and row."""
    rows = read_csv(path)
    if not rows:
        raise StoreError("predictions file has no rows", file=path, fix="delete the cell folder and rerun")
    cols = [c for c in rows[0] if c and c.startswith("prob_")]
    missing = [c for c in PREDICTION_COLUMNS if c not in rows[0]]
    if missing or not cols:
        raise StoreError(f"predictions file lacks column(s) {missing or ['prob_0']}", file=path,
                         expected=",".join([*PREDICTION_COLUMNS, "prob_0", "..."]),
                         fix="delete the cell folder and rerun `reportgen run` (older stores: rerun)")
    cols.sort(key=lambda c: int(c[5:]))
    try:
        index = np.array([int(r["index"]) for r in rows], dtype=int)
        labels = np.array([int(r["label"]) for r in rows], dtype=int)
        probs = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float64)
        if any(None in r for r in rows):  # a row with more values than the header
            raise ValueError("a row has more values than the header")
    except (TypeError, ValueError) as exc:
        raise StoreError(f"malformed predictions: a row that does not parse ({exc})", file=path,
                         fix="delete the cell folder and rerun `reportgen run`") from None
    if not np.all(np.isfinite(probs)):
        raise StoreError("predictions file holds non-finite probabilities", file=path,
                         fix="delete the cell folder and rerun `reportgen run`")
    return Predictions(index=index, sample_id=[r["sample_id"] for r in rows], labels=labels, probs=probs)


def damaged_json(folder: Path) -> bool:
    """Whether any ``*.json`` file in ``folder`` is unreadable or not a JSON object (derived files such as
    ``analysis/*.json`` are then recomputed instead of trusted)."""
    for path in Path(folder).glob("*.json"):
        try:
            if not isinstance(json.loads(path.read_text(encoding="utf-8")), dict):
                return True
        except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return True
    return False


R = TypeVar("R", bound=Record)


def _where(loc: tuple) -> str:
    return ".".join(str(x) for x in loc) or "(top level)"


def parse_record(cls: type[R], data: Any, *, file: Path) -> R:
    """Validate ``data`` as ``cls``; a StoreError names the file and the offending keys (wrong values first)."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] == "missing")
        shown = "; ".join(f"{_where(e['loc'])}: {e['msg'].lower()}" for e in errors[:4])
        more = f" (+{len(errors) - 4} more)" if len(errors) > 4 else ""
        raise StoreError(f"does not match the results-store schema {SCHEMA}: {shown}{more}",
                         file=file, key=_where(errors[0]["loc"]), expected="the format in docs/results-store.md",
                         fix="this file was edited or written by another reportgen version: delete the "
                             "cell folder and rerun `reportgen run`") from None


def read_record(cls: type[R], path: Path) -> R:
    return parse_record(cls, read_json_object(path), file=path)


def read_epochs(path: Path) -> list[EpochRow]:
    rows = []
    for i, row in enumerate(read_csv(path), start=2):
        conv = {k: (None if v in ("", None) else v) for k, v in row.items()}
        if None in row:  # more cells than header columns
            raise StoreError("row has more values than the header", file=path, key=f"line {i}",
                             fix="delete the cell folder and rerun `reportgen run`")
        rows.append(parse_record(EpochRow, conv, file=Path(f"{path}, line {i}")))
    return rows

