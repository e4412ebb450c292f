"""`reportgen status RUN`: the state of every planned cell, read from the results store alone.

The store is the source of truth for every launcher (inline, local, Slurm): a cell is ``done`` iff
``result.json`` exists, ``running`` while a live process holds its lock, ``failed`` when its last
attempt left ``failed.json`` (the error message), else ``pending`` — with the last finished epoch
when a killed attempt left a checkpoint to resume from. Torch-free, like ``render``.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import store
from ..errors import ReportgenError, StoreError
from .locks import is_held, lock_path, read_owner
from .read import FAILED_FILE

STATES = ("pending", "running", "done", "failed")


def record_failure(cell_dir: Path, exc: BaseException) -> None:
    """Write ``failed.json`` so ``status`` shows why a cell failed in a worker nobody is watching.

    Best effort: when the failure *is* a full disk, this write fails too, and the original error
    (naming the file that could not be written) must be the one the user sees.
    """
    try:
        store.write_json(Path(cell_dir) / FAILED_FILE, {
            "error": str(exc) if isinstance(exc, ReportgenError) else f"{type(exc).__name__}: {exc}",
            "type": type(exc).__name__, "host": socket.gethostname(),
            "failed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "traceback": "".join(traceback.format_exception(exc))[-4000:]})
    except (StoreError, OSError) as err:
        logging.getLogger(__name__).warning("could not record the failure of %s: %s", cell_dir, err)


def clear_failure(cell_dir: Path) -> None:
    (Path(cell_dir) / FAILED_FILE).unlink(missing_ok=True)


@dataclass
class CellStatus:
    cell_id: str
    state: str  # one of STATES
    host: str | None = None
    elapsed_s: float | None = None  # wall time so far (running) or of the finishing attempt (done)
    last_epoch: int | None = None  # last finished epoch (rows in epochs.csv)
    epochs: int | None = None  # planned epochs
    resumable: bool = False  # a checkpoint is there to resume from
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rows(path: Path) -> int | None:
    if not path.is_file():
        return None
    try:
        return len(store.read_csv(path))
    except (OSError, StoreError, UnicodeDecodeError):
        return None


def _since(iso: str | None) -> float | None:
    try:
        return (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(str(iso))).total_seconds()
    except ValueError:
        return None


def cell_status(run_dir: Path, cell_id: str) -> CellStatus:
    cdir = Path(run_dir) / "cells" / cell_id
    epochs_planned = None
    if (cdir / "cell.json").is_file():
        epochs_planned = (store.read_json(cdir / "cell.json").get("train") or {}).get("epochs")
    st = CellStatus(cell_id=cell_id, state="pending", last_epoch=_rows(cdir / "epochs.csv"),
                    epochs=epochs_planned, resumable=(cdir / "checkpoint.pt").is_file())
    if store.is_finished(cdir):
        result = store.read_json(cdir / store.RESULT_FILE)
        env = store.read_json(cdir / "env.json") if (cdir / "env.json").is_file() else {}
        st.state, st.host, st.elapsed_s = "done", env.get("host"), result.get("wall_time_s")
        st.last_epoch, st.resumable = result.get("epochs_run", st.last_epoch), False
        return st
    lock = lock_path(run_dir, cell_id)
    if is_held(lock):
        owner = read_owner(lock) or {}
        st.state, st.host, st.elapsed_s = "running", owner.get("host"), _since(owner.get("started_at"))
        return st
    if (cdir / FAILED_FILE).is_file():
        failure = store.read_json(cdir / FAILED_FILE)
        st.state, st.host, st.error = "failed", failure.get("host"), failure.get("error")
    return st


def run_status(run_dir: Path) -> list[CellStatus]:
    """Every planned cell's status, in planned order."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise StoreError("no results store here (run.json is missing)", file=run_dir,
                         fix="pass the run folder (runs/<name>), or start it with `reportgen run EXPERIMENT.toml`")
    return [cell_status(run_dir, cid) for cid in store.read_json(run_dir / "run.json").get("cells", [])]


def format_status(rows: list[CellStatus]) -> str:
    """A plain-text table plus a one-line count per state."""
    def elapsed(s: float | None) -> str:
        if s is None:
            return "-"
        m, sec = divmod(int(s), 60)
        return f"{m // 60}:{m % 60:02d}:{sec:02d}"

    lines = [f"{'cell':<60} {'state':<8} {'epoch':>7} {'elapsed':>9}  host"]
    for r in rows:
        ep = "-" if r.last_epoch is None else f"{r.last_epoch}/{r.epochs or '?'}"
        note = " (resumable)" if r.resumable and r.state != "running" else ""
        lines.append(f"{r.cell_id:<60} {r.state:<8} {ep:>7} {elapsed(r.elapsed_s):>9}  {r.host or '-'}{note}")
        if r.error:
            lines.append(f"    error: {r.error.splitlines()[0]}")
    counts = {s: sum(r.state == s for r in rows) for s in STATES}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()) + f" — {len(rows)} cells")
    return "\n".join(lines)
