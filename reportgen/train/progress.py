"""What a person watching `reportgen run` sees: epoch lines, resume notices, and what Ctrl-C kept.

Facts come from the store, never from what the CLI believes happened: the "is saved" epoch of an
interruption and the epoch a cell resumes from are read from the cell's checkpoint file, the same
file the runner resumes from (:class:`~reportgen.train.checkpoint.CellCheckpoint`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO


def bars_fit(stream: TextIO | None = None) -> bool:
    """Progress bars only on a terminal that reports a width: a pipe, a log file, or a wrapper that says
    0 columns (IDE consoles, `script`) gets one line per epoch instead."""
    stream = stream or sys.stderr
    try:
        if not stream.isatty():
            return False
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (OSError, ValueError, AttributeError):
        return False


def _num(v: Any, spec: str = ".3f") -> str:
    return "n/a" if v is None or v == "" else format(float(v), spec)


def format_epoch(row: dict[str, Any], *, epochs: int | None = None) -> str:
    """One epoch log row as one line; the stage is the row's own (what the loop recorded)."""
    of = f"/{epochs}" if epochs else ""
    return (f"epoch {row['epoch']}{of} ({row.get('stage', '?')}): "
            f"train loss {_num(row.get('train_loss'), '.4f')} acc {_num(row.get('train_acc'))} | "
            f"val loss {_num(row.get('val_loss'), '.4f')} acc {_num(row.get('val_acc'))} "
            f"macro-F1 {_num(row.get('val_macro_f1'))} AUC {_num(row.get('val_auc'))} | "
            f"lr {_num(row.get('lr'), '.2e')} | {_num(row.get('seconds'), '.1f')} s")


def saved_epoch(cell_dir: Path, cell_id: str) -> int | None:
    """The last epoch whose checkpoint is on disk (what a rerun resumes after), or None."""
    from .checkpoint import CellCheckpoint

    state = CellCheckpoint(cell_dir, cell_id=cell_id).load()
    return None if state is None else int(state["epoch"])


def interrupted_message(*, current: dict[str, Any] | None, run_dir: Path, finished: int) -> str:
    """The line Ctrl-C prints: where training stopped and what of it is kept, from the checkpoint."""
    kept = f"{finished} finished cell{'s are' if finished != 1 else ' is'} kept" if finished else ""
    if current is None:
        what = "interrupted before any cell started training"
        return f"{what}; {kept + '; ' if kept else ''}run the same command to start again"
    cell = f"cell {current['index']}/{current['total']} ({current['cell_id']})"
    saved = saved_epoch(run_dir / "cells" / current["cell_id"], current["cell_id"])
    if saved is None:
        head = f"interrupted in epoch 1 of {cell}; no epoch of it is saved yet"
    else:
        head = f"interrupted in epoch {saved + 1} of {cell}; epoch {saved} is saved"
        done = current.get("epochs")
        if done is not None and saved >= done:
            head = f"interrupted after the last epoch ({saved}) of {cell}, while scoring it; epoch {saved} is saved"
    return f"{head}; {kept + '; ' if kept else ''}run the same command to resume"


def _echo(text: str) -> None:
    import click

    click.echo(text)


class RunWatch:
    """What `run` tells the person watching: the cell in progress, resumes, one line per epoch without bars."""

    def __init__(self, exp: Any, *, announce: Callable[[str, dict], None]) -> None:
        from ..config.matrix import build_cells

        self.exp = exp
        self.announce = announce  # the CLI's one line per run event
        self.current: dict | None = None
        self.epochs = {c.id: c.train.epochs for c in build_cells(exp)[0]}
        self.bars = False

    def on_event(self, kind: str, data: dict) -> None:
        if kind == "cell_start":
            self.current = {**data, "epochs": self.epochs.get(data["cell_id"])}
            saved = saved_epoch(self.exp.run_dir / "cells" / data["cell_id"], data["cell_id"])
            if saved is not None:  # said when the cell starts, from the checkpoint the runner resumes from
                _echo(f"[{data['index']}/{data['total']}] {data['cell_id']}: resuming cell {data['index']}/"
                      f"{data['total']} from epoch {saved + 1} (epoch {saved} is saved)")
                return
        elif kind in ("cell_done", "cell_skipped", "cell_failed", "cell_locked"):
            self.current = None
        self.announce(kind, data)

    def on_epoch(self, cell_id: str, row: dict) -> None:
        # Bars off (a pipe, a 0-column terminal, --no-progress): one line per epoch. With -v the loop
        # logs the same formatted row, so it is not printed twice.
        if not self.bars and not logging.getLogger("reportgen.train.loop").isEnabledFor(logging.INFO):
            tag = f"[{self.current['index']}/{self.current['total']}] " if self.current else ""
            _echo(f"  {tag}{cell_id} {format_epoch(row, epochs=self.epochs.get(cell_id))}")

    def interrupted(self) -> str:
        from .. import store

        finished = sum(store.is_finished(self.exp.run_dir / "cells" / c) for c in self.epochs)
        return interrupted_message(current=self.current, run_dir=self.exp.run_dir, finished=finished)
