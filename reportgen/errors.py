"""One family of user-facing errors.

Anything the user can fix (a bad TOML key, a missing folder, a corrupt image) is raised as a
``ReportgenError``; ``reportgen.cli`` prints it without a traceback and exits with code 2. Every
message names *where* (file and key), *what was expected*, and *how to fix it*.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

EXIT_BAD_INPUT = 2


@dataclass
class ReportgenError(Exception):
    """A problem with the user's input, reported as one clear message.

    Args:
        message: what is wrong, in one sentence.
        file: the file the problem is in (config, image, CSV, ...), if any.
        key: the dotted key path inside that file (``backbones[1].name``), if any.
        expected: what a valid value looks like.
        fix: a concrete next step for the user.
    """

    message: str
    file: str | Path | None = None
    key: str | None = None
    expected: str | None = None
    fix: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        where = ""
        # A path is shown resolved: "runs/x" means little when the command ran from another folder.
        shown = os.path.abspath(self.file) if isinstance(self.file, Path) else self.file
        if self.file is not None and self.key:
            where = f"{shown}: {self.key}: "
        elif self.file is not None:
            where = f"{shown}: "
        elif self.key:
            where = f"{self.key}: "
        lines = [f"{where}{self.message}"]
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class ConfigError(ReportgenError):
    """The experiment file is malformed or inconsistent."""


class DataError(ReportgenError):
    """A dataset cannot be read or is inconsistent (missing folder, corrupt image, bad label)."""


class WeightsError(ReportgenError):
    """Pretrained weights cannot be obtained (offline and not cached, or a bad path)."""


class StoreError(ReportgenError):
    """The results store is missing, incomplete or unreadable."""


class RenderError(ReportgenError):
    """The report cannot be rendered (template error, no CJK font, ...)."""


class ConsistencyError(ReportgenError):
    """A number in the store disagrees with the number recomputed from the stored predictions."""


class TrainingDiverged(ReportgenError):
    """Training produced a non-finite loss or non-finite probabilities (lr too high, exploding gradients)."""


class LaunchError(ReportgenError):
    """Cells cannot be launched (no Slurm, no submitit) or failed in their workers."""
