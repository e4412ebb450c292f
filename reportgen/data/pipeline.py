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

The op table and the checks live on the config side (:mod:`reportgen.config.augment`): the TOML value is
parsed once into typed ops there, and this module only plans and runs them. It never imports torch
(``render`` uses it); the torch side of the random ops lives in ``batches.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Experiment
from ..config.augment import (  # noqa: F401 - re-exported: the op table's home is config/augment.py
    EXAMPLE,
    OPS,
    PRESET_NAMES,
    PRESETS,
    REQUIRED,
    Augment,
    AugmentOp,
    OpSpec,
    PipelineError,
    parse_augment,
)

AugmentValue = Augment | str | list[Any]  # a parsed value, or a raw one (tests, scripts) parsed on the way in

# The TOML check, under its old name (config/augment.py).
check_augment = parse_augment


def resolve(augment: AugmentValue) -> list[AugmentOp]:
    """The ops of an augment value, presets expanded. A parsed :class:`Augment` is used as is (no re-check)."""
    return list(parse_augment(augment).ops)


def is_random(augment: AugmentValue) -> bool:
    """Whether training batches are augmented at all (a frozen backbone's features can be cached if not)."""
    return parse_augment(augment).is_random


# --------------------------------------------------------------------------- stages per split
@dataclass(frozen=True)
class Stages:
    """Where each op of a pipeline runs, for one model input size."""

    train_decode: list[AugmentOp]  # deterministic ops on train images (always starts with a resize)
    eval_decode: list[AugmentOp]  # the same for val/test (random_crop → center_crop)
    batch: list[AugmentOp]  # random ops on each training batch, in order
    train_size: int  # side of the decoded train images
    implicit_resize: bool  # no resize was declared: decode resizes to input_size first

    def key(self, which: str) -> str:
        ops = self.train_decode if which == "train" else self.eval_decode
        return json.dumps([op.to_dict() for op in ops], sort_keys=True)


def stages(augment: AugmentValue, input_size: int) -> Stages:
    """Split a pipeline into decode-time and batch-time ops; PipelineError if its sizes do not end at input_size."""
    ops = resolve(augment)
    geometric = [op for op in ops if op.name in ("resize", "center_crop", "random_crop")]
    implicit = not geometric or geometric[0].name != "resize"
    if implicit:
        ops = [AugmentOp("resize", {"size": input_size})] + ops
    offset = 1 if implicit else 0
    train_dec: list[AugmentOp] = []
    eval_dec: list[AugmentOp] = []
    batch: list[AugmentOp] = []
    size = None
    train_size = None
    crop_at = None
    for j, op in enumerate(ops):
        where = f"[{j - offset}]"
        name = op.name
        if name == "resize":
            if crop_at is not None:
                raise PipelineError("no resize after random_crop (the crop must be the last size change)",
                                    subkey=f"{where}.op", fix="move the resize before the random_crop")
            size = op.params["size"]
        elif name in ("center_crop", "random_crop"):
            assert size is not None  # a resize always comes first
            if op.params["size"] > size:
                raise PipelineError(f"a crop no larger than the image at that point ({size} px)",
                                    subkey=f"{where}.size", value=op.params["size"],
                                    fix=f"crop at most {size} px, or resize to more than {op.params['size']} px first")
            if crop_at is not None and (name == "random_crop" or op.params["size"] != crop_at):
                raise PipelineError(f"after random_crop {crop_at}, only a center_crop of the same size "
                                    "(the val/test counterpart)", subkey=f"{where}.size",
                                    fix="keep one random_crop as the last size change")
            if name == "random_crop":
                crop_at, train_size = op.params["size"], size
                eval_dec.append(AugmentOp("center_crop", {"size": op.params["size"]}))
                batch.append(op)
                size = op.params["size"]
                continue
            if crop_at is not None:
                continue  # the random crop's val/test counterpart, already in eval_dec
            size = op.params["size"]
        if op.is_random:
            batch.append(op)
            continue
        eval_dec.append(op)
        if crop_at is None or name == "clahe":
            train_dec.append(op)  # geometry after the random crop is the eval side's; CLAHE is at decode
    if size != input_size:
        last = max((j for j, op in enumerate(ops) if op.name in ("resize", "center_crop", "random_crop")))
        raise PipelineError(f"a pipeline that ends at the backbone's input_size ({input_size} px), not {size} px",
                            subkey=f"[{last - offset}].size", value=size,
                            fix=f"make the last resize/crop {input_size} px, or set the backbone's input_size "
                                f"= {size}")
    return Stages(train_decode=train_dec, eval_decode=eval_dec, batch=batch,
                  train_size=train_size if train_size is not None else size, implicit_resize=implicit)


def describe(op: AugmentOp | dict[str, Any]) -> str:
    """One English line for an op with its parameters (logs and the store's plain-text summary)."""
    params = {k: (f"{v[0]:g}–{v[1]:g}" if isinstance(v, list) else f"{v:g}" if isinstance(v, float) else v)
              for k, v in op.items() if k != "op"}
    return OPS[op["op"]].description.format(**params)


def record(augment: AugmentValue, input_size: int) -> dict[str, list[dict[str, Any]]]:
    """The exact per-split pipeline for the store (``DataRecord.pipeline``): ordered steps with their stage."""
    st = stages(augment, input_size)

    def steps(ops: list[AugmentOp], stage: str) -> list[dict[str, Any]]:
        return [{"op": op.name, "params": {k: v for k, v in op.to_dict().items() if k != "op"}, "stage": stage}
                for op in ops]

    return {"train": steps(st.train_decode, "decode") + steps(st.batch, "batch"),
            "eval": steps(st.eval_decode, "decode")}


# --------------------------------------------------------------------------- decode-time ops (numpy, uint8)
def apply_decode_op(img: np.ndarray, op: AugmentOp | dict[str, Any]) -> np.ndarray:
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
def check_experiment(exp: Experiment) -> None:
    """Every (backbone, strategy)'s pipeline ends at the backbone's input size, and CLAHE has OpenCV.

    Runs in preflight (``validate``, ``plan``, ``run``) before any data is opened: a ConfigError names
    the key the pipeline came from (``train.augment[3].size`` or an override's).
    """
    from ..errors import ConfigError

    seen: set[tuple[str, str, int]] = set()
    for b in exp.backbones:
        for strategy in exp.strategies:
            aug = exp.train_config(backbone=b.name, strategy=strategy).augment
            sig = (json.dumps(aug.to_json(), sort_keys=True), b.name, b.input_size)
            if sig in seen:
                continue
            seen.add(sig)
            where = exp.overrides.source_of("augment", backbone=b.name, strategy=strategy)
            try:
                stages(aug, b.input_size)
            except PipelineError as exc:
                raise ConfigError(f"the pipeline does not fit {b.name} (input_size = {b.input_size})",
                                  file=exp.source, key=f"{where}{exc.subkey}", expected=str(exc),
                                  fix=exc.fix) from None
            if any(op.name == "clahe" for op in aug.ops) and (why := clahe_available()):
                raise ConfigError(f"CLAHE needs OpenCV, which does not import ({why})", file=exp.source, key=where,
                                  fix="pip install opencv-python-headless (a reportgen dependency), or drop the clahe op")
