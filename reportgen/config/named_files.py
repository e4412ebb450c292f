"""Files an experiment TOML pulls into a report must sit beside it, unless the user says otherwise.

A TOML is often someone else's (a TA renders a student's experiment). ``answer_file`` and
``notes_file`` are copied into the results store and printed in the report, so a TOML naming
``/home/ta/.ssh/id_rsa`` would publish that file. Every such path is therefore resolved (``..``
and symbolic links followed to the real file) and must land inside the TOML's own folder; a path
outside it is refused unless the command line opts in (``--allow-outside-files``), and then each
one is named in the terminal so the person running the command sees what was read.

The opt-in is a context variable set by the CLI around ``load_experiment`` (not a TOML key: a TOML
must not be able to grant itself the right to read more).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)
_ALLOW: contextvars.ContextVar[bool] = contextvars.ContextVar("reportgen_allow_outside_files", default=False)
_READ_OUTSIDE: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("reportgen_read_outside",
                                                                               default=None)


@contextlib.contextmanager
def allow_outside(allowed: bool) -> Iterator[list[Path]]:
    """While active, files outside the TOML's folder are read if ``allowed``; yields the list of those read."""
    seen: list[Path] = []
    t1, t2 = _ALLOW.set(allowed), _READ_OUTSIDE.set(seen)
    try:
        yield seen
    finally:
        _ALLOW.reset(t1)
        _READ_OUTSIDE.reset(t2)


def inside(path: Path, folder: Path) -> bool:
    """True if ``path`` (links resolved) is ``folder`` (links resolved) or below it."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def check_named_file(path: Path, *, toml: Path, key: str, what: str) -> Path:
    """``path`` if it resolves inside the TOML's folder (or the opt-in is given); else a ConfigError."""
    folder = Path(toml).parent
    if inside(path, folder):
        return path
    real = Path(path).resolve()
    if not _ALLOW.get():
        raise ConfigError(f"the {what} {path} is outside the experiment file's folder"
                          + (f" (it resolves to {real})" if real != Path(path) else ""),
                          file=toml, key=key, expected=f"a file inside {folder.resolve()}",
                          fix=f"move the file next to {Path(toml).name}, or, if you trust this experiment file, "
                              "pass --allow-outside-files to read it anyway")
    seen = _READ_OUTSIDE.get()
    if seen is not None:
        seen.append(real)
    log.info("reading %s outside the experiment folder (--allow-outside-files): %s", what, real)
    return path
