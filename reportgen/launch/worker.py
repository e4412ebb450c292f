"""One cell in one process: what a local scheduler slot or a Slurm array task runs.

The parent has already run preflight and decoded every dataset into the shared tensor cache, so a
worker only reopens the datasets (the decoded arrays come memory-mapped from the cache), takes the
cell's lock and trains it (resuming from its checkpoint if an earlier attempt was killed). Run as
``python -m reportgen.launch.worker EXPERIMENT_PICKLE CELL_ID [--device D] [--threads N]``; exit code
0 = trained or already finished, 3 = another live process holds the cell, 1 = the cell failed
(its ``failed.json`` says why).
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from ..config import Experiment
from ..errors import ConfigError
from . import signals

log = logging.getLogger(__name__)
EXIT_LOCKED = 3


def run_one(exp: Experiment, cell_id: str, *, device: str = "auto", threads: int | None = None,
            save_checkpoint: bool = True) -> dict[str, Any]:
    """Train one cell of ``exp`` here; returns ``{"cell_id", "outcome", "result"}``."""
    import torch

    from ..train.device import set_cublas_workspace
    from ..train.environment import environment, pick_device
    from ..train.preflight import preflight
    from ..train.runner import any_deterministic, attempt_cell

    set_cublas_workspace(any_deterministic(exp))  # before anything in this process touches CUDA

    # In a Slurm task, use the CPUs Slurm gave it (torch would otherwise take every core of the node).
    threads = threads or int(os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("SLURM_CPUS_ON_NODE") or 0)
    if threads:
        torch.set_num_threads(threads)
    plan = preflight(exp)
    cell = next((c for c in plan.cells if c.id == cell_id), None)
    if cell is None:
        raise ConfigError(f'cell "{cell_id}" is not in this experiment\'s plan', file=exp.source,
                          fix="the experiment file changed after the run was launched: launch it again")
    dev = pick_device(device)
    outcome, result = attempt_cell(plan, cell, run_dir=exp.run_dir, device=dev, env=environment(dev),
                                   save_checkpoint=save_checkpoint)
    log.info("cell %s: %s", cell_id, outcome)
    return {"cell_id": cell_id, "outcome": outcome, "result": result}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reportgen.launch.worker")
    ap.add_argument("experiment", type=Path, help="the pickled Experiment the launcher wrote")
    ap.add_argument("cell_id")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-checkpoints", action="store_true")
    args = ap.parse_args(argv)
    parent = os.environ.get("REPORTGEN_PARENT_PID")
    if parent:  # started by the local launcher: never outlive it (even a kill -9 of the launcher)
        signals.die_with_parent(int(parent))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open(args.experiment, "rb") as fh:
        exp = pickle.load(fh)
    try:
        out = run_one(exp, args.cell_id, device=args.device, threads=args.threads,
                      save_checkpoint=not args.no_checkpoints)
    except Exception:  # recorded in failed.json by attempt_cell; the log keeps the traceback
        log.exception("cell %s failed", args.cell_id)
        return 1
    return EXIT_LOCKED if out["outcome"] == "locked" else 0


if __name__ == "__main__":
    sys.exit(main())
