"""The per-epoch checkpoint of a cell in training, so a killed cell resumes from its last epoch.

``fit`` hands :meth:`CellCheckpoint.save` everything the next epoch depends on (model, optimizer,
scheduler, AMP scaler, every RNG the loop draws from, the epoch log, the best state so far and the
early-stopping counters); the runner passes what :meth:`CellCheckpoint.load` returns back to
``fit`` as ``resume``. The file is written atomically (temp file, fsync, rename), so a ``kill -9``
during a save leaves the previous epoch's checkpoint, never half a file. It is deleted once the
cell's ``result.json`` exists.
"""

from __future__ import annotations

import io
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import store

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = 1


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every random stream one epoch draws from: torch (CPU + CUDA), numpy, python, the loop's generator."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "generator": generator.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    generator.set_state(state["generator"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CellCheckpoint:
    """``<cell>/checkpoint.pt``: saved after every epoch, loaded on resume."""

    def __init__(self, cell_dir: Path, *, cell_id: str) -> None:
        self.path = Path(cell_dir) / CHECKPOINT_FILE
        self.cell_id = cell_id

    def save(self, state: dict[str, Any]) -> None:
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "cell_id": self.cell_id, **state}, buf)
        store.atomic_write_bytes(self.path, buf.getvalue())  # temp file, fsync, rename: never half a file

    def load(self) -> dict[str, Any] | None:
        """The last saved state, or None when there is none or it cannot be used (then train from scratch)."""
        if not self.path.is_file():
            return None
        try:
            # weights_only=False: the state holds numpy/python RNG tuples; the file is our own,
            # written into the user's results store by this cell.
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint means "start over", not a crash
            log.warning("ignoring unreadable checkpoint %s (%s): training the cell from epoch 1", self.path, exc)
            return None
        if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("cell_id") != self.cell_id:
            log.warning("ignoring checkpoint %s written for another cell or format", self.path)
            return None
        return state

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
