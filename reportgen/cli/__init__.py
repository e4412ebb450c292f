"""`reportgen`: a thin Click CLI. Validation lives in the library; this package only parses and prints.

One module per command group: ``prepare`` (init, validate, plan), ``training`` (run), ``results`` (status,
check, export), ``models`` (inspect); ``render`` is loaded lazily from ``reportgen.report.command``. The
group itself (errors → one message, exit code 2) is in ``group``.
"""

from __future__ import annotations

from . import models, prepare, results, training  # noqa: F401  (importing a module registers its commands)
from .group import Group, cli, main

__all__ = ["Group", "cli", "main"]
