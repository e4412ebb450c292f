"""The results store: one folder per cell, every file written atomically.

Layout and file formats are documented in ``docs/results-store.md``. This module holds the writers;
:mod:`.read` the file readers and :mod:`.load` the one reader of a whole run (:func:`load_run`), both
re-exported here. Torch-free: ``render`` loads results through :func:`load_run` without importing torch.
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
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from .load import CellResult, RunResults, is_finished, load_cell, load_run  # noqa: F401 - the one reader
from .read import (  # noqa: F401 - the readers are part of this package's API (store.read_record, ...)
    FAILED_FILE,
    PREDICTION_COLUMNS,
    RESULT_FILE,
    Predictions,
    parse_record,
    read_csv,
    read_epochs,
    read_json,
    read_json_object,
    read_predictions,
    read_record,
)
from .schema import Record

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


def json_text(obj: Any) -> str:
    """The exact text :func:`write_json` writes for ``obj`` (the description's manifest hashes it before writing)."""
    return json.dumps(_finite(obj), indent=2, ensure_ascii=False, default=_json_default) + "\n"


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json_text(obj))


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


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


def write_record(path: Path, record: Record) -> None:
    write_json(path, record.model_dump(mode="json"))
