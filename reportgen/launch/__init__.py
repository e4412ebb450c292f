"""Launchers: how `reportgen run` spreads the cells of a matrix over processes and machines.

- ``inline`` (default): one after another in this process (``train.runner.run_experiment``).
- ``local``: a queue of cells, each in its own process, one per GPU or ``jobs`` CPU slots (``local.py``).
- ``slurm``: one job array through submitit, one cell per task, requeued and resumed when preempted
  (``slurm.py``).

All three fill the same results store under per-cell locks, so they can even run side by side.
"""

from __future__ import annotations

import dataclasses

from ..config import Experiment, LauncherConfig


def resolve(exp: Experiment, *, kind: str | None, jobs: int | None) -> LauncherConfig:
    """The launcher settings: the TOML's ``[launcher]`` table, with the command line's choices on top."""
    return dataclasses.replace(exp.launcher, kind=kind or exp.launcher.kind, jobs=jobs or exp.launcher.jobs)
