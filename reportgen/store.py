"""The results store: one folder per cell, every file written atomically.

Layout and file formats are documented in ``docs/results-store.md``. This module is torch-free:
``render`` loads results through :func:`load_run` without importing torch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StoreError

SCHEMA = 1
RESULT_FILE = "result.json"  # written last: its presence marks a finished cell
_UMASK = os.umask(0)
os.umask(_UMASK)


# --------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def _finite(obj: Any) -> Any:
    """Replace NaN/inf by None: JSON has no NaN, and a report must show 'n/a', not 'nan'."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(_finite(obj), indent=2, ensure_ascii=False, default=_json_default)
    atomic_write_text(path, text + "\n")


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


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


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


def write_predictions(path: Path, labels: np.ndarray, probs: np.ndarray) -> None:
    """Per-sample test/val probabilities, so every metric can be recomputed later."""
    k = probs.shape[1]
    header = ["index", "label"] + [f"prob_{i}" for i in range(k)]
    rows = [[i, int(y)] + [f"{p:.6g}" for p in row] for i, (y, row) in enumerate(zip(labels, probs))]
    write_csv(path, header, rows)


def read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(labels, probs)`` from a predictions CSV."""
    rows = read_csv(path)
    if not rows:
        return np.zeros(0, dtype=int), np.zeros((0, 0))
    try:
        cols = sorted((c for c in rows[0] if c and c.startswith("prob_")), key=lambda c: int(c[5:]))
        labels = np.array([int(r["label"]) for r in rows], dtype=int)
        probs = np.array([[float(r[c]) for c in cols] for r in rows], dtype=float)
    except (ValueError, TypeError, KeyError):  # a ragged row (None), a non-number, a missing column
        raise _malformed(path, "predictions (every row: index, label, one probability per class)") from None
    return labels, probs


# --------------------------------------------------------------------------- loading
@dataclass
class CellResult:
    """Everything the store holds for one finished cell (plain data, no torch)."""

    path: Path
    cell: dict
    env: dict
    data: dict
    arch: dict
    epochs: list[dict]
    metrics: dict
    result: dict

    @property
    def id(self) -> str:
        return self.cell["id"]

    def predictions(self, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        return read_predictions(self.path / f"predictions_{split}.csv")


@dataclass
class RunResults:
    path: Path
    run: dict
    cells: list[CellResult]
    missing: list[str] = field(default_factory=list)  # planned but not finished
    datasets: dict[str, dict] = field(default_factory=dict)


def _epochs(path: Path) -> list[dict]:
    out = []
    for row in read_csv(path):
        conv: dict[str, Any] = {}
        for k, v in row.items():
            if k == "stage":
                conv[k] = v
            elif v in ("", None):
                conv[k] = None
            else:
                try:
                    conv[k] = int(v) if k == "epoch" else float(v)
                except (ValueError, TypeError):
                    raise _malformed(path, f"epoch log ({k} = {v!r} is not a number)") from None
        out.append(conv)
    return out


def load_cell(path: Path) -> CellResult:
    path = Path(path)
    return CellResult(
        path=path,
        cell=read_json_object(path / "cell.json"),
        env=read_json_object(path / "env.json"),
        data=read_json_object(path / "data.json"),
        arch=read_json_object(path / "arch.json"),
        epochs=_epochs(path / "epochs.csv"),
        metrics=read_json_object(path / "metrics.json"),
        result=read_json_object(path / RESULT_FILE),
    )


def is_finished(cell_dir: Path) -> bool:
    return (Path(cell_dir) / RESULT_FILE).is_file()


def load_run(run_dir: Path) -> RunResults:
    """Load every finished cell of a run, in planned order."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise StoreError("no results store here (run.json is missing)", file=run_dir,
                         fix="run `reportgen run EXPERIMENT.toml` first, or pass the run folder")
    run = read_json_object(run_dir / "run.json")
    listed = run.get("cells", [])
    for key, kind in (("experiment", dict), ("skipped", list)):
        if key in run and not isinstance(run[key], kind):
            raise StoreError(f"run.json: {key} must be a JSON {'object' if kind is dict else 'array'}",
                             file=run_dir / "run.json", key=key, fix="rerun `reportgen run` to rewrite it")
    if not isinstance(listed, list) or not all(isinstance(c, str) and c and "/" not in c for c in listed):
        raise StoreError("run.json: cells must be a list of cell ids", file=run_dir / "run.json", key="cells",
                         fix="rerun `reportgen run` to rewrite it")
    # Finished cells on disk that run.json does not list (an older run.json) still count.
    on_disk = sorted(p.parent.name for p in (run_dir / "cells").glob(f"*/{RESULT_FILE}"))
    cells, missing = [], []
    for cid in listed + [c for c in on_disk if c not in listed]:
        cdir = run_dir / "cells" / cid
        if is_finished(cdir):
            cells.append(load_cell(cdir))
        else:
            missing.append(cid)
    datasets = {p.stem: read_json_object(p) for p in sorted((run_dir / "datasets").glob("*.json"))}
    return RunResults(path=run_dir, run=run, cells=cells, missing=missing, datasets=datasets)
