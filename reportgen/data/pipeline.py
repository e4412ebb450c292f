"""The input pipeline as declared data: named ops with parameters (``[train] augment``).

``augment`` is a preset name (``"none"``, ``"flips"``, ``"medical"``) or a list of ops such as
``[{op = "resize", size = 256}, {op = "random_crop", size = 224}, {op = "hflip", p = 0.5}]``.
Every op is declared once in :data:`OPS` (parameters with type, range and default; deterministic or
random; a one-line description), so validation, execution and the report's printed pipeline all
read the same table.

Semantics:
  * deterministic ops (``resize``, ``center_crop``, ``clahe``) run once, at decode time, on the
    uint8 image of EVERY split (they are part of the decoded-tensor cache key);
  * random ops run on training batches only, on the device (:func:`reportgen.data.batches.augment_batch`);
  * ``random_crop`` crops at train time; for val/test it becomes a centre crop of the same size,
    applied at decode time — so ``resize 256 → random_crop 224`` decodes train at 256 px and
    val/test at 224 px (resized to 256, centre-cropped).

This module never imports torch (``config`` and ``render`` use it); the torch side of the random
ops lives in ``batches.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config.names import did_you_mean as _did_you_mean

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


# --------------------------------------------------------------------------- validation
def check_augment(value: Any) -> str | list[dict[str, Any]]:
    """The ``[train] augment`` validator: a preset name unchanged, or an op list with defaults filled in."""
    if isinstance(value, str):
        if value not in PRESETS:
            raise PipelineError("a preset (" + ", ".join(f'"{p}"' for p in PRESET_NAMES) + ") or a list of ops",
                                fix=_did_you_mean(value, list(PRESETS)) or f"write augment = {EXAMPLE}")
        return value
    if not isinstance(value, list):
        raise PipelineError("a preset name or a list of ops (tables with an `op` key)", fix=f"write augment = {EXAMPLE}")
    return [_check_op(i, item) for i, item in enumerate(value)]


def _check_op(i: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise PipelineError("a table such as {op = \"hflip\", p = 0.5}", subkey=f"[{i}]", value=item,
                            fix=f"write each op as an inline table, e.g. augment = {EXAMPLE}")
    name = item.get("op")
    if name not in OPS:
        hint = _did_you_mean(name, list(OPS)) if isinstance(name, str) else ""
        raise PipelineError("op = one of " + ", ".join(f'"{o}"' for o in OPS), subkey=f"[{i}].op", value=name,
                            fix=hint or "use one of the listed ops (see docs/results-store.md, `pipeline`)")
    spec = OPS[name]
    out: dict[str, Any] = {"op": name}
    for k in item:
        if k != "op" and k not in spec.params:
            hint = _did_you_mean(k, list(spec.params))
            raise PipelineError(f"{name} takes " + (", ".join(spec.params) or "no parameters"),
                                subkey=f"[{i}].{k}", value=item[k], fix=hint or f"remove {k}")
    for k, (default, check) in spec.params.items():
        if k not in item:
            if default is REQUIRED:
                raise PipelineError(f"{name} needs {k}", subkey=f"[{i}].{k}",
                                    fix=f'add {k} = ..., e.g. {{op = "{name}", {k} = 224}}')
            out[k] = default
            continue
        try:
            out[k] = check(item[k])
        except ValueError as exc:
            raise PipelineError(str(exc), subkey=f"[{i}].{k}", value=item[k],
                                fix=f"set {k} of the {name} op (augment[{i}]) to such a value") from None
    return out


def resolve(augment: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The op list of a config value (presets expanded; lists re-checked so defaults are present)."""
    return [dict(op) for op in PRESETS[augment]] if isinstance(augment, str) else check_augment(augment)


def is_random(augment: str | list[dict[str, Any]]) -> bool:
    """Whether training batches are augmented at all (a frozen backbone's features can be cached if not)."""
    return any(OPS[op["op"]].kind == "random" for op in resolve(augment))


# --------------------------------------------------------------------------- stages per split
@dataclass(frozen=True)
class Stages:
    """Where each op of a pipeline runs, for one model input size."""

    train_decode: list[dict[str, Any]]  # deterministic ops on train images (always starts with a resize)
    eval_decode: list[dict[str, Any]]  # the same for val/test (random_crop → center_crop)
    batch: list[dict[str, Any]]  # random ops on each training batch, in order
    train_size: int  # side of the decoded train images
    implicit_resize: bool  # no resize was declared: decode resizes to input_size first

    def key(self, which: str) -> str:
        return json.dumps(self.train_decode if which == "train" else self.eval_decode, sort_keys=True)


def stages(augment: str | list[dict[str, Any]], input_size: int) -> Stages:
    """Split a pipeline into decode-time and batch-time ops; PipelineError if its sizes do not end at input_size."""
    ops = resolve(augment)
    geometric = [op for op in ops if op["op"] in ("resize", "center_crop", "random_crop")]
    implicit = not geometric or geometric[0]["op"] != "resize"
    if implicit:
        ops = [{"op": "resize", "size": input_size}] + ops
    offset = 1 if implicit else 0
    train_dec: list[dict[str, Any]] = []
    eval_dec: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    size = None
    train_size = None
    crop_at = None
    for j, op in enumerate(ops):
        where = f"[{j - offset}]"
        name = op["op"]
        if name == "resize":
            if crop_at is not None:
                raise PipelineError("no resize after random_crop (the crop must be the last size change)",
                                    subkey=f"{where}.op", fix="move the resize before the random_crop")
            size = op["size"]
        elif name in ("center_crop", "random_crop"):
            assert size is not None  # a resize always comes first
            if op["size"] > size:
                raise PipelineError(f"a crop no larger than the image at that point ({size} px)",
                                    subkey=f"{where}.size", value=op["size"],
                                    fix=f"crop at most {size} px, or resize to more than {op['size']} px first")
            if crop_at is not None and (name == "random_crop" or op["size"] != crop_at):
                raise PipelineError(f"after random_crop {crop_at}, only a center_crop of the same size "
                                    "(the val/test counterpart)", subkey=f"{where}.size",
                                    fix="keep one random_crop as the last size change")
            if name == "random_crop":
                crop_at, train_size = op["size"], size
                eval_dec.append({"op": "center_crop", "size": op["size"]})
                batch.append(op)
                size = op["size"]
                continue
            if crop_at is not None:
                continue  # the random crop's val/test counterpart, already in eval_dec
            size = op["size"]
        if OPS[name].kind == "random":
            batch.append(op)
            continue
        eval_dec.append(op)
        if crop_at is None or name == "clahe":
            train_dec.append(op)  # geometry after the random crop is the eval side's; CLAHE is at decode
    if size != input_size:
        last = max((j for j, op in enumerate(ops) if op["op"] in ("resize", "center_crop", "random_crop")))
        raise PipelineError(f"a pipeline that ends at the backbone's input_size ({input_size} px), not {size} px",
                            subkey=f"[{last - offset}].size", value=size,
                            fix=f"make the last resize/crop {input_size} px, or set the backbone's input_size "
                                f"= {size}")
    return Stages(train_decode=train_dec, eval_decode=eval_dec, batch=batch,
                  train_size=train_size if train_size is not None else size, implicit_resize=implicit)


def describe(op: dict[str, Any]) -> str:
    """One English line for an op with its parameters (logs and the store's plain-text summary)."""
    params = {k: (f"{v[0]:g}–{v[1]:g}" if isinstance(v, list) else f"{v:g}" if isinstance(v, float) else v)
              for k, v in op.items() if k != "op"}
    return OPS[op["op"]].description.format(**params)


def record(augment: str | list[dict[str, Any]], input_size: int) -> dict[str, list[dict[str, Any]]]:
    """The exact per-split pipeline for the store (``DataRecord.pipeline``): ordered steps with their stage."""
    st = stages(augment, input_size)

    def steps(ops: list[dict[str, Any]], stage: str) -> list[dict[str, Any]]:
        return [{"op": op["op"], "params": {k: v for k, v in op.items() if k != "op"}, "stage": stage}
                for op in ops]

    return {"train": steps(st.train_decode, "decode") + steps(st.batch, "batch"),
            "eval": steps(st.eval_decode, "decode")}


# --------------------------------------------------------------------------- decode-time ops (numpy, uint8)
def apply_decode_op(img: np.ndarray, op: dict[str, Any]) -> np.ndarray:
    """One deterministic op on a uint8 image, (H, W) grayscale or (H, W, 3) RGB."""
    name = op["op"]
    if name == "resize":
        from PIL import Image

        s = op["size"]
        if img.shape[:2] == (s, s):
            return img
        return np.asarray(Image.fromarray(img).resize((s, s), Image.Resampling.BILINEAR), dtype=np.uint8)
    if name == "center_crop":
        return center_crop(img, op["size"])
    if name == "clahe":
        return clahe(img, clip_limit=op["clip_limit"], tile=op["tile"])
    raise ValueError(f"{name} is not a decode-time op")


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The central ``size``×``size`` window (torchvision's rounding: top = round((H - size) / 2))."""
    h, w = img.shape[:2]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return img[top:top + size, left:left + size]


def clahe(img: np.ndarray, *, clip_limit: float, tile: int) -> np.ndarray:
    """OpenCV's CLAHE; on RGB images on the L channel of Lab (as albumentations does), so colours keep their hue."""
    import cv2

    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tile), int(tile)))
    img = np.ascontiguousarray(img)
    if img.ndim == 2:
        return op.apply(img)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def clahe_available() -> str | None:
    """None if OpenCV imports, else why not (checked at validate when a pipeline uses CLAHE)."""
    try:
        import cv2  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- checks at validate / run
def check_experiment(exp: Any) -> None:
    """Every (backbone, strategy)'s pipeline ends at the backbone's input size, and CLAHE has OpenCV.

    Runs in preflight (``validate``, ``plan``, ``run``) before any data is opened: a ConfigError names
    the key the pipeline came from (``train.augment[3].size`` or an override's).
    """
    from ..errors import ConfigError

    seen: set[tuple[str, str, int]] = set()
    for b in exp.backbones:
        for strategy in exp.strategies:
            aug = exp.train_config(backbone=b.name, strategy=strategy)["augment"]
            sig = (json.dumps(aug, sort_keys=True), b.name, b.input_size)
            if sig in seen:
                continue
            seen.add(sig)
            if "augment" in exp.overrides.get("backbone", {}).get(b.name, {}):
                where = f"overrides.backbone.{b.name}.augment"
            elif "augment" in exp.overrides.get("strategy", {}).get(strategy, {}):
                where = f"overrides.strategy.{strategy}.augment"
            else:
                where = "train.augment"
            try:
                stages(aug, b.input_size)
            except PipelineError as exc:
                raise ConfigError(f"the pipeline does not fit {b.name} (input_size = {b.input_size})",
                                  file=exp.source, key=f"{where}{exc.subkey}", expected=str(exc),
                                  fix=exc.fix) from None
            if any(op["op"] == "clahe" for op in resolve(aug)) and (why := clahe_available()):
                raise ConfigError(f"CLAHE needs OpenCV, which does not import ({why})", file=exp.source, key=where,
                                  fix="pip install opencv-python-headless (a reportgen dependency), or drop the clahe op")
