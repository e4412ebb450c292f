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
    cols = sorted((c for c in rows[0] if c.startswith("prob_")), key=lambda c: int(c[5:]))
    labels = np.array([int(r["label"]) for r in rows], dtype=int)
    probs = np.array([[float(r[c]) for c in cols] for r in rows], dtype=float)
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
                conv[k] = int(v) if k == "epoch" else float(v)
        out.append(conv)
    return out


def load_cell(path: Path) -> CellResult:
    path = Path(path)
    return CellResult(
        path=path,
        cell=read_json(path / "cell.json"),
        env=read_json(path / "env.json"),
        data=read_json(path / "data.json"),
        arch=read_json(path / "arch.json"),
        epochs=_epochs(path / "epochs.csv"),
        metrics=read_json(path / "metrics.json"),
        result=read_json(path / RESULT_FILE),
    )


def is_finished(cell_dir: Path) -> bool:
    return (Path(cell_dir) / RESULT_FILE).is_file()


def load_run(run_dir: Path) -> RunResults:
    """Load every finished cell of a run, in planned order."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise StoreError("no results store here (run.json is missing)", file=run_dir,
                         fix="run `reportgen run EXPERIMENT.toml` first, or pass the run folder")
    run = read_json(run_dir / "run.json")
    cells, missing = [], []
    for cid in run.get("cells", []):
        cdir = run_dir / "cells" / cid
        if is_finished(cdir):
            cells.append(load_cell(cdir))
        else:
            missing.append(cid)
    datasets = {p.stem: read_json(p) for p in sorted((run_dir / "datasets").glob("*.json"))}
    return RunResults(path=run_dir, run=run, cells=cells, missing=missing, datasets=datasets)
