"""A task's premise: ``expect = ["finetune > scratch"]`` in a ``[[report.tasks]]`` block.

A lab question often presumes an outcome ("explain why the MLP cannot reach the transfer models"). The
premise is written down so the report can say whether the run bears it out (reportgen.describe.premise):

* ``"A > B"`` — A reaches a higher test macro-F1 than B; ``"A < B"`` is the same read the other way round;
* A and B are both strategies of ``[experiment] strategies`` (compared on every backbone), or both backbones
  of ``[[backbones]]`` (compared under every strategy).

There is deliberately no "≈" or ">=": a paired test that finds no difference is not evidence that there is
none, so such a premise could never be shown to hold. Names are checked here, before any compute, with
the usual did-you-mean. Pure Python (validate answers before torch loads).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .names import did_you_mean

OPS = (">", "<")
SYNTAX = '"A > B" (A reaches a higher test macro-F1 than B), e.g. "finetune > scratch" or "resnet18 > mlp"'
_FORM = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*([<>])\s*([A-Za-z0-9_.\-]+)\s*$")


def split(text: str) -> tuple[str, str]:
    """``"A > B"`` → ``("A", "B")``, ``"A < B"`` → ``("B", "A")``: (the side expected higher, the other)."""
    m = _FORM.match(text)
    if m is None:
        raise ValueError(SYNTAX)
    a, op, b = m.groups()
    return (a, b) if op == ">" else (b, a)


def parse_expect(value: Any, *, file: Path, key: str) -> list[str]:
    """The syntax of ``expect`` (names are checked by :func:`check_names` once the experiment is read):
    a list of ``"A > B"`` strings, each kept in one spelling ``"A > B"``."""
    if isinstance(value, str):
        value = [value]  # one premise written without brackets
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"bad value {value!r}", file=file, key=key, expected="a list of " + SYNTAX,
                          fix='write expect = ["finetune > scratch"]')
    out: list[str] = []
    for j, text in enumerate(value):
        try:
            better, worse = split(text)
        except ValueError:
            hint = " (≈, = and >= cannot be shown by a paired test: state the direction you expect)" if any(
                s in text for s in ("≈", "=", "~")) else ""
            raise ConfigError(f"bad premise {text!r}", file=file, key=f"{key}[{j}]", expected=SYNTAX + hint,
                              fix='write it as "finetune > scratch"') from None
        if better == worse:
            raise ConfigError(f"premise {text!r} compares {better} with itself", file=file, key=f"{key}[{j}]",
                              expected="two different strategies or two different backbones",
                              fix='e.g. "finetune > scratch"')
        norm = f"{better} > {worse}"
        if norm not in out:  # the same premise twice is one premise
            out.append(norm)
    return out


def side_of(name: str, *, strategies: list[str], backbones: list[str]) -> str | None:
    """``"strategy"`` / ``"backbone"`` / None: which list of the experiment ``name`` belongs to."""
    if name in strategies:
        return "strategy"
    if name in backbones:
        return "backbone"
    return None


def check_names(tasks: list[dict[str, Any]], *, strategies: list[str], backbones: list[str], file: Path) -> None:
    """Every premise names two strategies of this experiment or two of its backbones.

    Raises:
        ConfigError: naming ``report.tasks[i].expect[j]``, the names it could mean, and a fix.
    """
    known = list(strategies) + list(backbones)
    for i, task in enumerate(tasks):
        for j, text in enumerate(task.get("expect") or []):
            key = f"report.tasks[{i}].expect[{j}]"
            names = split(text)
            sides = []
            for name in names:
                side = side_of(name, strategies=strategies, backbones=backbones)
                if side is None:
                    raise ConfigError(
                        f'premise "{text}" names "{name}", which is neither a strategy nor a backbone of this '
                        "experiment", file=file, key=key,
                        expected="one of " + ", ".join(known),
                        fix=did_you_mean(name, known)
                        or "use a name from [experiment] strategies or a [[backbones]] name")
                sides.append(side)
            if sides[0] != sides[1]:
                raise ConfigError(f'premise "{text}" compares a {sides[0]} with a {sides[1]}', file=file, key=key,
                                  expected="two strategies (compared on each backbone) or two backbones "
                                           "(compared under each strategy)",
                                  fix='e.g. "finetune > scratch" or "resnet18 > mlp"')
