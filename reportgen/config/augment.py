"""``[train] augment`` parsed once into typed ops: the op table, the presets and the checks.

``augment`` is a preset name (``"none"``, ``"flips"``, ``"medical"``) or a list of ops such as
``[{op = "resize", size = 256}, {op = "random_crop", size = 224}, {op = "hflip", p = 0.5}]``.
Every op is declared once in :data:`OPS` (parameters with type, range and default; deterministic or
random; a one-line description). :func:`parse_augment` checks a TOML value once, at load time, into an
:class:`Augment` of :class:`AugmentOp` s; ``data/pipeline.py`` plans and runs those ops without checking
them again (before, the op list was re-validated on every training batch).

Pure Python (no torch, no numpy): it is part of parsing the experiment file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .names import did_you_mean

PRESET_NAMES = ("none", "flips", "medical")


class PipelineError(ValueError):
    """A bad ``augment`` value; ``subkey`` (``"[3].degrees"``) extends the config key path."""

    def __init__(self, expected: str, *, subkey: str = "", fix: str | None = None, value: Any = None) -> None:
        super().__init__(expected)
        self.subkey, self.fix, self.value = subkey, fix, value


# --------------------------------------------------------------------------- parameter checks
def _num(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        if not ok or not ((lo < v) if lo_open else (lo <= v)) or v > hi:
            raise ValueError(f"a number {'>' if lo_open else '≥'} {lo:g} and ≤ {hi:g}")
        return float(v)
    return check


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"an integer from {lo} to {hi}")
        return v
    return check


def _scale_range(v: Any) -> list[float]:
    ok = (isinstance(v, list) and len(v) == 2
          and all(not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x) for x in v))
    if not ok or not 0 < v[0] <= v[1] <= 4:
        raise ValueError("a pair [low, high] with 0 < low ≤ high ≤ 4, e.g. [0.95, 1.05]")
    return [float(v[0]), float(v[1])]


_P = _num(0, 1)
_SIZE = _int(4, 4096)


@dataclass(frozen=True)
class OpSpec:
    kind: str  # "deterministic" (decode time, every split) | "random" (training batches, on the device)
    params: dict[str, tuple[Any, Callable[[Any], Any]]]  # name -> (default, check); REQUIRED = no default
    description: str  # one line, English, with {param} placeholders (logs, CLI; the report uses i18n)


REQUIRED = object()

OPS: dict[str, OpSpec] = {
    "resize": OpSpec("deterministic", {"size": (REQUIRED, _SIZE)}, "resize to {size}×{size} px (bilinear)"),
    "center_crop": OpSpec("deterministic", {"size": (REQUIRED, _SIZE)}, "centre crop {size}×{size} px"),
    "clahe": OpSpec("deterministic", {"clip_limit": (2.0, _num(0, 40, lo_open=True)), "tile": (8, _int(1, 64))},
                    "CLAHE (clip limit {clip_limit}, {tile}×{tile} tiles)"),
    "random_crop": OpSpec("random", {"size": (REQUIRED, _SIZE)},
                          "random crop {size}×{size} px (val/test: centre crop)"),
    "hflip": OpSpec("random", {"p": (0.5, _P)}, "horizontal flip with p = {p}"),
    "vflip": OpSpec("random", {"p": (0.5, _P)}, "vertical flip with p = {p}"),
    "affine": OpSpec("random", {"degrees": (10.0, _num(0, 180)), "translate": (0.0, _num(0, 0.5)),
                                "scale": ([1.0, 1.0], _scale_range), "p": (1.0, _P)},
                     "random affine (±{degrees}°, shift ±{translate} of the side, scale {scale}) with p = {p}"),
    "brightness_contrast": OpSpec("random", {"brightness": (0.1, _num(0, 1)), "contrast": (0.1, _num(0, 1)),
                                             "p": (1.0, _P)},
                                  "brightness ±{brightness}, contrast ±{contrast} with p = {p}"),
    "gaussian_noise": OpSpec("random", {"std": (0.02, _num(0, 1, lo_open=True)), "p": (1.0, _P)},
                             "Gaussian noise, std {std} (of the 0–1 range) with p = {p}"),
    "contrast_stretch": OpSpec("random", {"low": (2.0, _num(0, 50)), "high": (98.0, _num(50, 100)), "p": (0.5, _P)},
                               "percentile contrast stretch ({low}th–{high}th percentile to 0–1) with p = {p}"),
}

# Presets are op lists, so the report prints them exactly like a declared pipeline.
PRESETS: dict[str, list[dict[str, Any]]] = {
    "none": [],
    "flips": [{"op": "hflip", "p": 0.5}],
    # No flips (anatomy has a side); a cheap global stand-in for CLAHE's contrast enhancement.
    "medical": [{"op": "affine", "degrees": 7.0, "translate": 0.04, "scale": [0.95, 1.05], "p": 1.0},
                {"op": "brightness_contrast", "brightness": 0.1, "contrast": 0.1, "p": 1.0},
                {"op": "contrast_stretch", "low": 2.0, "high": 98.0, "p": 0.5}],
}

EXAMPLE = '[{op = "resize", size = 256}, {op = "random_crop", size = 224}, {op = "hflip", p = 0.5}]'


# --------------------------------------------------------------------------- the typed ops
@dataclass(frozen=True)
class AugmentOp(Mapping[str, Any]):
    """One checked op with every parameter filled in.

    Also a read-only mapping ``{"op": name, **params}``: the form the store records and the op
    functions index (``op["p"]``), so a typed op equals the dict it was written as.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def kind(self) -> str:
        return OPS[self.name].kind

    @property
    def is_random(self) -> bool:
        return self.kind == "random"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.name, **{k: (list(v) if isinstance(v, list) else v) for k, v in self.params.items()}}

    def with_size(self, size: int) -> AugmentOp:
        return AugmentOp("center_crop" if self.name == "random_crop" else self.name, {**self.params, "size": size})

    def __getitem__(self, key: str) -> Any:
        return self.name if key == "op" else self.params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("op", *self.params))

    def __len__(self) -> int:
        return 1 + len(self.params)

    __eq__ = Mapping.__eq__  # equal to the dict it stands for (and to another op with the same values)
    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Augment:
    """``[train] augment`` as parsed: the preset it names (None for a declared list) and its ops in order."""

    preset: str | None
    ops: tuple[AugmentOp, ...]

    @property
    def is_random(self) -> bool:
        """Whether training batches are augmented at all (a frozen backbone's features can be cached if not)."""
        return any(op.is_random for op in self.ops)

    def to_json(self) -> str | list[dict[str, Any]]:
        """The value as the store records it (``data.json`` ``augment``, ``cell.json`` ``train.augment``):
        the preset name, or the op list with defaults filled in — the same bytes as before typing."""
        return self.preset if self.preset is not None else [op.to_dict() for op in self.ops]

    def __str__(self) -> str:
        return str(self.to_json())  # as str() of the untyped value read: "none", or the op list

    def __eq__(self, other: object) -> bool:
        # A preset name or an op list compares with the value it was parsed from ("none" == Augment("none")).
        if isinstance(other, Augment):
            return self.to_json() == other.to_json()
        if isinstance(other, (str, list)):
            return self.to_json() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(repr(self.to_json()))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """The store's records read and write an Augment as its JSON form (pydantic imported only there)."""
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            parse_augment, serialization=core_schema.plain_serializer_function_ser_schema(lambda a: a.to_json()))


# --------------------------------------------------------------------------- parsing (once, at load time)
def parse_augment(value: Any) -> Augment:
    """The ``[train] augment`` check: a preset name or an op list → :class:`Augment`; PipelineError otherwise.

    An :class:`Augment` passes through unchanged, so code that hands on a parsed value is not re-checked.
    """
    if isinstance(value, Augment):
        return value
    if isinstance(value, str):
        if value not in PRESETS:
            raise PipelineError("a preset (" + ", ".join(f'"{p}"' for p in PRESET_NAMES) + ") or a list of ops",
                                fix=did_you_mean(value, list(PRESETS)) or f"write augment = {EXAMPLE}")
        return Augment(value, tuple(_op(i, item) for i, item in enumerate(PRESETS[value])))
    if not isinstance(value, (list, tuple)):
        raise PipelineError("a preset name or a list of ops (tables with an `op` key)", fix=f"write augment = {EXAMPLE}")
    return Augment(None, tuple(item if isinstance(item, AugmentOp) else _op(i, item) for i, item in enumerate(value)))


def _op(i: int, item: Any) -> AugmentOp:
    if not isinstance(item, Mapping):
        raise PipelineError("a table such as {op = \"hflip\", p = 0.5}", subkey=f"[{i}]", value=item,
                            fix=f"write each op as an inline table, e.g. augment = {EXAMPLE}")
    name = item.get("op")
    if name not in OPS:
        hint = did_you_mean(name, list(OPS)) if isinstance(name, str) else ""
        raise PipelineError("op = one of " + ", ".join(f'"{o}"' for o in OPS), subkey=f"[{i}].op", value=name,
                            fix=hint or "use one of the listed ops (see docs/results-store.md, `pipeline`)")
    spec = OPS[name]
    params: dict[str, Any] = {}
    for k in item:
        if k != "op" and k not in spec.params:
            hint = did_you_mean(k, list(spec.params))
            raise PipelineError(f"{name} takes " + (", ".join(spec.params) or "no parameters"),
                                subkey=f"[{i}].{k}", value=item[k], fix=hint or f"remove {k}")
    for k, (default, check) in spec.params.items():
        if k not in item:
            if default is REQUIRED:
                raise PipelineError(f"{name} needs {k}", subkey=f"[{i}].{k}",
                                    fix=f'add {k} = ..., e.g. {{op = "{name}", {k} = 224}}')
            params[k] = list(default) if isinstance(default, list) else default
            continue
        try:
            params[k] = check(item[k])
        except ValueError as exc:
            raise PipelineError(str(exc), subkey=f"[{i}].{k}", value=item[k],
                                fix=f"set {k} of the {name} op (augment[{i}]) to such a value") from None
    return AugmentOp(name, params)
