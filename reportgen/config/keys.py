"""The vocabulary of an experiment file: allowed values and the value checks every key uses.

A check takes the raw TOML value and returns it (converted where a key promises a type, e.g. an int
learning rate becomes a float) or raises ``ValueError`` whose text is the "expected …" part of the
message; :mod:`.checking` adds the file, the key path and a fix. The typed objects in :mod:`.types`
name one check per field, so a key's type, default and check are declared in one place.

Pure Python: no torch, numpy or pydantic (``validate`` answers a broken TOML before any of them loads).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Callable
from typing import Any

from ..registry import strategies as strategy_registry

STRATEGIES = strategy_registry.ACCEPTED
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "plateau", "cosine", "step")
SELECTION_METRICS = ("val_loss", "val_acc", "val_macro_f1", "val_auc")
LOSSES = ("ce", "bce")
AMP_MODES = ("auto", "off", "bf16", "fp16")
AUGMENTS = ("none", "flips", "medical")  # presets; a list of ops is accepted too (config/augment.py)
STEMS = ("default", "small")
DATASET_KINDS = ("npz", "folder", "csv", "medmnist")
MEDMNIST_SIZES = (28, 64, 128, 224)  # the sizes the medmnist package publishes (MedMNIST+)
TASKS = ("auto", "binary", "multiclass", "ordinal")
COLOR_MODES = ("auto", "gray", "rgb")
LANGUAGES = ("zh-TW", "en", "both")
LAUNCHERS = ("inline", "local", "slurm")
INTENSITY_POLICIES = ("auto", "minmax", "bit_depth")
REPORT_SECTIONS = ("abstract", "introduction", "model_selection", "data", "methods", "results",
                   "comparison", "discussion", "limitations")
TOP_LEVEL = ("experiment", "report", "datasets", "backbones", "train", "overrides", "exclude", "launcher")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a key that must be given
Validator = Callable[[Any], Any]


def type_check(kind: type | tuple[type, ...], what: str) -> Validator:
    def check(v: Any) -> Any:
        # bool is an int in Python; a `true` where a number belongs is a mistake, not a 1.
        if isinstance(v, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ValueError(what)
        if not isinstance(v, kind):
            raise ValueError(what)  # noqa: TRY004 - caught by check_table and reported with the key
        return float(v) if kind == (int, float) else v

    return check


def choice(options: tuple[str, ...]) -> Validator:
    def check(v: Any) -> Any:
        if not isinstance(v, str) or v not in options:
            raise ValueError("one of " + ", ".join(f'"{o}"' for o in options))
        return v

    return check


def is_number(v: Any) -> bool:
    # bool is an int in Python; NaN and inf parse as TOML floats but no setting means them.
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError("a positive integer")
    return v


def nonneg_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError("an integer ≥ 0")
    return v


def nonneg_float(v: Any) -> float:
    if not is_number(v) or v < 0:
        raise ValueError("a number ≥ 0 (not nan or inf)")
    return float(v)


def positive_float(v: Any) -> float:
    if not is_number(v) or v <= 0:
        raise ValueError("a number > 0 (not nan or inf)")
    return float(v)


def fraction(v: Any) -> float:
    if not is_number(v) or not 0 < v < 1:
        raise ValueError("a number between 0 and 1 (exclusive)")
    return float(v)


def smoothing(v: Any) -> float:
    if not is_number(v) or not 0 <= v < 1:
        raise ValueError("a number in [0, 1), e.g. 0.1 (0 = no label smoothing)")
    return float(v)


# Upper bounds that catch typos (epochs = 1000000, input_size = 22400) before hours are spent or
# memory runs out. A real need for more is lifted with an environment variable, named in the message.
LIMITS = {"epochs": ("REPORTGEN_MAX_EPOCHS", 10_000), "input_size": ("REPORTGEN_MAX_INPUT_SIZE", 2048),
          "batch_size": ("REPORTGEN_MAX_BATCH_SIZE", 65_536)}


def limit(name: str) -> int:
    env, default = LIMITS[name]
    raw = os.environ.get(env, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def bounded_int(name: str) -> Validator:
    def check(v: Any) -> int:
        env, _ = LIMITS[name]
        top = limit(name)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
            raise ValueError(f"a positive integer up to {top} (to allow more, set the environment variable {env})")
        return v

    return check


def optional(check: Validator) -> Validator:
    def inner(v: Any) -> Any:
        return None if v is None else check(v)

    return inner


def str_list(v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        raise ValueError("a list of non-empty strings")
    return list(v)


def distinct_str_list(v: Any) -> list[str]:
    """A non-empty list of distinct names (a class listed twice would give the same images two labels)."""
    out = str_list(v)
    if not out:
        raise ValueError("a non-empty list of names")
    twice = sorted({s for s in out if out.count(s) > 1})
    if twice:
        raise ValueError(f"a list of distinct names ({', '.join(repr(s) for s in twice)} listed twice)")
    return out


MAX_SEED = 2**32 - 1  # numpy's seed range


def seed(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SEED - 1:
        raise ValueError(f"an integer from 0 to {MAX_SEED - 1}")
    return v


def seed_list(v: Any) -> list[int]:
    if not isinstance(v, list) or not v or not all(isinstance(s, int) and not isinstance(s, bool) for s in v):
        raise ValueError("a non-empty list of integers, e.g. [0, 1, 2]")
    if any(not 0 <= s <= MAX_SEED for s in v):
        raise ValueError(f"seeds from 0 to {MAX_SEED}, e.g. [0, 1, 2]")
    if len(set(v)) != len(v):
        raise ValueError("a list of distinct integers")
    return list(v)


def name(v: Any) -> str:
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", v):
        raise ValueError('a name of letters, digits, "_", "-" or "." (it becomes part of folder names)')
    return v


def date(v: Any) -> str:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return v
    raise ValueError('a date such as 2026-11-23 or a string')


def regex(v: Any) -> str:
    """A regular expression naming each image's group (patient) in its file name."""
    if not isinstance(v, str) or not v:
        raise ValueError("a regular expression, e.g. 'person(\\d+)_' (its first group is the patient)")
    try:
        re.compile(v)
    except re.error as exc:
        raise ValueError(f"a valid regular expression ({exc})") from None
    return v


def medmnist_size(v: Any) -> int:
    if isinstance(v, bool) or v not in MEDMNIST_SIZES:
        raise ValueError("one of " + ", ".join(map(str, MEDMNIST_SIZES)))
    return int(v)


def intensity(v: Any) -> str | dict[str, list[float]]:
    """How stored intensities become 8-bit model input (the maps live in data/decode.py):
    ``"auto" | "minmax" | "bit_depth" | {"window": [centre, width]}``."""
    expected = ('"auto", "minmax", "bit_depth" or {window = [centre, width]} with width > 0 '
                "(centre and width in stored values; Hounsfield units for CT DICOM)")
    if isinstance(v, str) and v in INTENSITY_POLICIES:
        return v
    if isinstance(v, dict) and set(v) == {"window"}:
        w = v["window"]
        if isinstance(w, list) and len(w) == 2 and all(is_number(x) for x in w) and w[1] > 0:
            return {"window": [float(w[0]), float(w[1])]}
    raise ValueError(expected)


string = type_check(str, "a string")
boolean = type_check(bool, "true or false")
