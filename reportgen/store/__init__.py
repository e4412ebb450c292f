"""The results store: one folder per cell, every file written atomically.

Layout and file formats are documented in ``docs/results-store.md``. This module is torch-free:
``render`` loads results through :func:`load_run` without importing torch.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from ..errors import StoreError
from .schema import (
    SCHEMA,
    ArchRecord,
    CellRecord,
    DataRecord,
    DatasetFacts,
    EnvRecord,
    EpochRow,
    ExperimentRecord,
    MetricsRecord,
    Record,
    ResultRecord,
    RunRecord,
    SplitMetrics,
)

RESULT_FILE = "result.json"  # written last: its presence marks a finished cell
_UMASK = os.umask(0)
os.umask(_UMASK)


# --------------------------------------------------------------------------- atomic writes
# Every file reportgen writes into a results store (and every report file) passes through
# :func:`atomic_write_bytes` — the single choke point for writes. That is what makes a fault at any
# write survivable (a crash leaves the old file or the new one, never half of one), what lets the
# temp files of a killed process be found and removed, and what the fault-injection tests hook
# (``write_hook``: called before each write with the target path and size).
_TMP_SUFFIX = ".tmp"
_HOST = socket.gethostname().split(".")[0].replace(".", "_") or "host"
# ".<name>.<host>-<pid>.<random>.tmp": the writer's host and pid say whether it can still be alive.
_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[^.]+)-(?P<pid>\d+)\.[^.]+\.tmp$")
write_hook: Callable[[Path, int], None] | None = None  # tests only: fault injection (tests/faults.py)


def write_point(path: Path, nbytes: int) -> None:
    """Called before every write to the store (atomic files and lock records): the fault-injection hook."""
    if write_hook is not None:
        write_hook(Path(path), nbytes)


class WriteError(StoreError, OSError):
    """A file of the store could not be written: one message for the user (a StoreError, exit 2), and still
    an OSError (``errno``, ``filename``) for the callers that handle a failed write themselves (a read-only
    store renders without its figure cache)."""


def disk_error(exc: OSError, path: Path, nbytes: int) -> WriteError:
    """An OSError while writing ``path`` as one message: the file, the free space, the size, what is kept."""
    path = Path(path)
    probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = f"{shutil.disk_usage(probe).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    size = f"{nbytes / 1e6:.2f} MB" if nbytes >= 100_000 else f"{nbytes} bytes"
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = ("free space on that disk (or set [experiment] output_dir elsewhere) and run the same command "
               "again: finished cells are kept and an interrupted cell resumes from its last epoch")
    else:
        fix = ("check the disk and the folder's permissions, then run the same command again: finished cells "
               "are kept and an interrupted cell resumes from its last epoch")
    err = WriteError(f"cannot write this file: {what} (writing {size}; {free} there)", file=path,
                     expected="a writable folder with room for the results", fix=fix)
    err.errno, err.strerror, err.filename = exc.errno, exc.strerror, str(path)
    return err


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    An OSError (disk full, I/O error, read-only) becomes a StoreError naming the file, the free
    space and the size being written; the temp file is removed. A temp file left by a process that
    was killed names its host and pid, so :func:`clean_stale_temp_files` removes it on the next start.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_HOST}-{os.getpid()}.",
                                   suffix=_TMP_SUFFIX)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            write_point(path, len(data))  # after the temp file exists: a kill here leaves one behind
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise disk_error(exc, path, len(data)) from exc
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _writer_gone(host: str, pid: int, mtime: float) -> bool:
    """True when the process that wrote a temp file on this host can no longer be writing it."""
    if host != _HOST or pid == os.getpid():
        return False  # another node's (a shared Slurm store) or ours: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # pid reuse: a process that started after the file was last written is not its writer
        return Path(f"/proc/{pid}").stat().st_mtime > mtime + 1
    except OSError:
        return False


def clean_stale_temp_files(root: Path, *, max_depth: int = 4) -> list[Path]:
    """Remove the atomic-write temp files under ``root`` whose writer was killed (never follows links).

    Run at the start of ``run`` and ``render``: a ``kill -9`` between a temp file's creation and its
    rename leaves ``.<name>.<host>-<pid>.<random>.tmp``; the next start deletes it. A live writer's
    temp file (another run filling the same store) is left alone.
    """
    root = Path(root)
    removed: list[Path] = []
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if len(Path(dirpath).parts) - base_depth >= max_depth:
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if d != ".submitit"]
        for name in filenames:
            m = _TMP_NAME.match(name)
            if not m:
                continue
            p = Path(dirpath) / name
            try:
                st = p.lstat()
                if _writer_gone(m["host"], int(m["pid"]), st.st_mtime):
                    p.unlink()
                    removed.append(p)
            except OSError:
                continue
    return removed


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


PREDICTION_COLUMNS = ("index", "sample_id", "label")


@dataclass(frozen=True)
class Predictions:
    """Per-sample probabilities of one split, in split order, with each sample's identity in its source."""

    index: np.ndarray  # int (N,): position in the split
    sample_id: list[str]  # file path relative to the dataset root, or "<split>[i]" for array datasets
    labels: np.ndarray  # int (N,)
    probs: np.ndarray  # float64 (N, K)


def write_predictions(path: Path, labels: np.ndarray, probs: np.ndarray, sample_ids: list[str]) -> None:
    """Per-sample val/test probabilities, so every metric can be recomputed later.

    CSV, because a student opens it in a spreadsheet or with ``pandas.read_csv``; each probability is
    written with ``repr`` (the shortest text that parses back to the identical float64), so a metric
    recomputed from this file equals the one computed in memory. (Six significant digits once reversed
    the ranking of a model whose outputs differed only in the seventh.)
    """
    probs = np.asarray(probs, dtype=np.float64)
    if not np.all(np.isfinite(probs)):
        raise StoreError("refusing to store non-finite probabilities", file=path,
                         fix="the model diverged: lower the learning rate and rerun")
    k = probs.shape[1]
    header = [*PREDICTION_COLUMNS] + [f"prob_{i}" for i in range(k)]
    rows = [[i, sid, int(y)] + [repr(float(p)) for p in row]
            for i, (sid, y, row) in enumerate(zip(sample_ids, labels, probs, strict=True))]
    write_csv(path, header, rows)


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


# --------------------------------------------------------------------------- typed records
R = TypeVar("R", bound=Record)


def write_record(path: Path, record: Record) -> None:
    write_json(path, record.model_dump(mode="json"))


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


# --------------------------------------------------------------------------- loading
@dataclass
class CellResult:
    """Everything the store holds for one finished cell, as typed records (no torch)."""

    path: Path
    cell: CellRecord
    env: EnvRecord
    data: DataRecord
    arch: ArchRecord
    epochs: list[EpochRow]
    metrics: MetricsRecord
    result: ResultRecord
    _predictions: dict[str, Predictions] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return self.cell.id

    @property
    def test(self) -> SplitMetrics:
        return self.metrics.test

    def predictions(self, split: str = "test") -> Predictions:
        if split not in self._predictions:
            self._predictions[split] = read_predictions(self.path / f"predictions_{split}.csv")
        return self._predictions[split]


@dataclass
class RunResults:
    path: Path
    run: RunRecord
    cells: list[CellResult]
    missing: list[str] = field(default_factory=list)  # planned but not finished
    datasets: dict[str, DatasetFacts] = field(default_factory=dict)

    @property
    def experiment(self) -> ExperimentRecord:
        return self.run.experiment



def load_cell(path: Path) -> CellResult:
    path = Path(path)
    return CellResult(
        path=path,
        cell=read_record(CellRecord, path / "cell.json"),
        env=read_record(EnvRecord, path / "env.json"),
        data=read_record(DataRecord, path / "data.json"),
        arch=read_record(ArchRecord, path / "arch.json"),
        epochs=read_epochs(path / "epochs.csv"),
        metrics=read_record(MetricsRecord, path / "metrics.json"),
        result=read_record(ResultRecord, path / RESULT_FILE),
    )


def is_finished(cell_dir: Path) -> bool:
    return (Path(cell_dir) / RESULT_FILE).is_file()


def load_run(run_dir: Path) -> RunResults:
    """Load every finished cell of a run, in planned order."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise StoreError("no results store here (run.json is missing)", file=run_dir,
                         fix="run `reportgen run EXPERIMENT.toml` first, or pass the run folder")
    raw = read_json_object(run_dir / "run.json")
    listed = raw.get("cells", [])
    if not isinstance(listed, list) or not all(isinstance(c, str) and c and "/" not in c and c not in (".", "..")
                                               for c in listed):
        raise StoreError("run.json: cells must be a list of cell ids", file=run_dir / "run.json", key="cells",
                         fix="rerun `reportgen run` to rewrite it")
    run = parse_record(RunRecord, raw, file=run_dir / "run.json")
    # Finished cells on disk that run.json does not list (an older run.json) still count.
    on_disk = sorted(p.parent.name for p in (run_dir / "cells").glob(f"*/{RESULT_FILE}"))
    cells, missing = [], []
    for cid in run.cells + [c for c in on_disk if c not in run.cells]:
        cdir = run_dir / "cells" / cid
        if is_finished(cdir):
            cells.append(load_cell(cdir))
        else:
            missing.append(cid)
    datasets = {p.stem: read_record(DatasetFacts, p) for p in sorted((run_dir / "datasets").glob("*.json"))}
    return RunResults(path=run_dir, run=run, cells=cells, missing=missing, datasets=datasets)
