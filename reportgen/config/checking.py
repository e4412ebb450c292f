"""Checking one TOML table against its typed object's keys, with messages that name file, key and fix.

:func:`check_table` reads a table's keys from a typed object (:func:`.types.keys_of`): an unknown key is
an error with a did-you-mean (including the names other tools use, :data:`SYNONYMS`), a missing required
key is an error, and a bad value names the key path and what was expected. While ``load_experiment`` runs,
errors that leave the rest of the file checkable are collected (:func:`report`), so one message lists them all.
"""

from __future__ import annotations

import copy
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .keys import REQUIRED, Validator
from .names import SYNONYMS, did_you_mean  # noqa: E402,F401 - the one suggestion rule (torch-free)

# While load_experiment runs, problems that leave the rest of the file checkable are collected here
# (one message lists them all); elsewhere (no collector) the first one is raised as before.
COLLECTED: ContextVar[list[ConfigError] | None] = ContextVar("reportgen_config_errors", default=None)


def report(err: ConfigError) -> None:
    sink = COLLECTED.get()
    if sink is None:
        raise err
    sink.append(err)


def check_table(table: Any, keys: dict[str, tuple[Any, Validator]], *, file: Path, where: str) -> dict:
    """Every key of ``keys`` checked (or its default filled in); unknown and bad keys reported."""
    if not isinstance(table, dict):
        raise ConfigError("expected a table", file=file, key=where, expected=f"[{where}] with keys "
                          + ", ".join(keys))
    out: dict[str, Any] = {}
    for k in table:
        if k not in keys:
            hint = did_you_mean(k, tuple(keys))
            report(ConfigError(f'unknown key "{k}"', file=file, key=f"{where}.{k}",
                               expected="one of " + ", ".join(keys),
                               fix=hint or "remove it or check the spelling (see experiments/demo.toml)"))
    for k, (default, check) in keys.items():
        if k not in table:
            if default is REQUIRED:
                report(ConfigError(f'missing required key "{k}"', file=file, key=f"{where}.{k}",
                                   fix=f'add {k} = ... to {where}'))
                out[k] = None
                continue
            out[k] = copy.deepcopy(default)
            continue
        try:
            out[k] = check(table[k])
        except ValueError as exc:
            # A structured value (the augment op list) names the element inside it: augment[3].degrees.
            sub = getattr(exc, "subkey", "")
            value = exc.value if sub else table[k]  # type: ignore[attr-defined]
            report(ConfigError(f"bad value {value!r}", file=file, key=f"{where}.{k}{sub}",
                               expected=str(exc), fix=getattr(exc, "fix", None) or f"change {k} in [{where}] to "
                               "such a value (experiments/demo.toml shows every key)"))
            out[k] = None if default is REQUIRED else copy.deepcopy(default)  # keep checking the rest
    return out


def resolve_path(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    # normpath keeps messages readable: "data/x" rather than "experiments/../data/x"
    return p if p.is_absolute() else Path(os.path.normpath(base / p))
