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
FORMAT = 2  # 2: the augmentation generator and the training device's RNG only (1: every GPU's)


def rng_state(generator: torch.Generator, *, device: torch.device | None = None,
              aug_generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random stream one epoch draws from: torch's CPU stream, the RNG of the device the cell trains
    on (only that one: saving every visible GPU would open a CUDA context on each, and restoring by index
    breaks when ``CUDA_VISIBLE_DEVICES`` differs on resume), numpy, python, the loop's batch-order
    generator and the augmentation generator when it is a separate one (on the GPU)."""
    cuda = device is not None and device.type == "cuda"
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "generator": generator.get_state(),
            "aug_generator": (aug_generator.get_state()
                              if aug_generator is not None and aug_generator is not generator else None),
            "device_rng": torch.cuda.get_rng_state(device) if cuda else None}


def restore_rng(state: dict[str, Any], generator: torch.Generator, *, device: torch.device | None = None,
                aug_generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    generator.set_state(state["generator"])
    if aug_generator is not None and aug_generator is not generator and state.get("aug_generator") is not None:
        aug_generator.set_state(state["aug_generator"])
    if device is not None and device.type == "cuda" and state.get("device_rng") is not None:
        torch.cuda.set_rng_state(state["device_rng"], device)


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
