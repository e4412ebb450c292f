"""From cached uint8 arrays to normalized float batches, with augmentation on whole batches.

Augmentation runs on batched tensors on the training device (the GPU when there is one), so
it costs a few kernel launches per batch instead of per-image PIL work in DataLoader workers.
Nothing here waits for the device: normalization constants are made once per device, random
numbers are drawn by a generator on the batch's device, and host→device copies come from pinned
memory, so the next batch's copy overlaps with the current step's compute.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import pipeline


@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def batch_indices(n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                  sample_weights: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Index batches for one epoch; a weighted sampler draws ``n`` samples with replacement."""
    if sample_weights is not None:
        w = torch.as_tensor(sample_weights, dtype=torch.double)
        order = torch.multinomial(w, n, replacement=True, generator=generator).numpy()
    elif shuffle:
        order = torch.randperm(n, generator=generator).numpy()
    else:
        order = np.arange(n)
    for start in range(0, n, batch_size):
        # Sorted indices read a memory-mapped array sequentially; order inside a batch is irrelevant.
        yield np.sort(order[start:start + batch_size])


def load_batch(images: np.ndarray, idx: np.ndarray, *, device: torch.device) -> torch.Tensor:
    """``images[idx]`` on ``device`` (pinned + non-blocking copy on CUDA): uint8 images, features or labels."""
    batch = torch.from_numpy(np.ascontiguousarray(images[idx]))
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch


def to_model_input(batch_u8: torch.Tensor, norm: Normalization, *, augment: pipeline.AugmentValue = "none",
                   generator: torch.Generator | None = None, channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, 1|3, S, S) → normalized float (B, 3, S, S), augmented when training."""
    x = batch_u8.float().div_(255.0)
    aug = pipeline.parse_augment(augment)  # the loop passes the parsed value: nothing is re-checked per batch
    if aug.ops:
        x = augment_batch(x, aug, generator=generator)
    if x.shape[1] == 1:  # grayscale X-rays into ImageNet backbones: repeat to 3 channels
        x = x.expand(-1, 3, -1, -1)
    mean, std = _norm_tensors(norm, x.device)
    x = (x - mean) / std
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@functools.lru_cache(maxsize=32)
def _norm_tensors(norm: Normalization, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # Made once per (normalization, device): torch.tensor(list, device="cuda") per batch would be
    # a synchronous copy from pageable memory every step.
    mean = torch.tensor(norm.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(norm.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return mean, std


def augment_generator(seed: int, device: torch.device) -> torch.Generator:
    """The augmentation generator for a training run: on the training device, seeded from the cell's seed.

    Drawing on the device keeps augmentation free of host round trips; the price is that CPU and
    CUDA give different (each reproducible) augmentation streams for one seed.
    """
    return torch.Generator(device=device).manual_seed(seed)


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    if generator is None or generator.device == device:
        return torch.rand(n, generator=generator, device=device)
    # A generator on another device (a caller's CPU generator with a CUDA batch) still works, at
    # the cost of one small copy.
    return torch.rand(n, generator=generator, device=generator.device).to(device, non_blocking=True)


def augment_batch(x: torch.Tensor, augment: pipeline.AugmentValue, *,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply a pipeline's random ops to a float training batch in [0, 1], in the declared order.

    ``augment`` is the parsed ``[train] augment`` value (:class:`reportgen.config.augment.Augment`; a raw
    preset name or op list is parsed first). Deterministic ops (resize, centre crop, CLAHE) were
    applied when the images were decoded and are skipped here; ``random_crop`` cuts the decoded
    (larger) train image down to the model's input size. Every random number comes from
    ``generator``, so a fixed generator gives the same batch twice.
    """
    for op in pipeline.resolve(augment):
        fn = _BATCH_OPS.get(op.name)
        if fn is not None:
            x = fn(x, op, generator)
    return x.clamp_(0, 1)


def _apply(x: torch.Tensor, out: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """``out`` for a random share ``p`` of the images, ``x`` for the rest (p = 1 draws nothing)."""
    if p >= 1:
        return out
    pick = _rand(x.shape[0], generator, x.device) < p
    return torch.where(pick.view(-1, 1, 1, 1), out, x)


def _sym(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return _rand(n, generator, device) * 2 - 1  # uniform in [-1, 1]


def _hflip(x: torch.Tensor, op: dict, g: torch.Generator | None) -> torch.Tensor:
    return torch.where((_rand(x.shape[0], g, x.device) < op["p"]).view(-1, 1, 1, 1), x.flip(-1), x)


def _vflip(x: torch.Tensor, op: dict, g: torch.Generator | None) -> torch.Tensor:
    return torch.where((_rand(x.shape[0], g, x.device) < op["p"]).view(-1, 1, 1, 1), x.flip(-2), x)


def _random_crop(x: torch.Tensor, op: dict, g: torch.Generator | None) -> torch.Tensor:
    b, _, h, w = x.shape
    s = op["size"]
    if (h, w) == (s, s):
        return x
    # Offsets drawn and applied on the device (a gather, no per-image host loop or sync).
    top = (_rand(b, g, x.device) * (h - s + 1)).long().clamp_(max=h - s)
    left = (_rand(b, g, x.device) * (w - s + 1)).long().clamp_(max=w - s)
    ar = torch.arange(s, device=x.device)
    rows = (top.view(-1, 1) + ar).view(b, 1, s, 1).expand(-1, x.shape[1], -1, w)
    x = torch.gather(x, 2, rows)
    cols = (left.view(-1, 1) + ar).view(b, 1, 1, s).expand(-1, x.shape[1], s, -1)
    return torch.gather(x, 3, cols)


def _affine(x: torch.Tensor, op: dict, g: torch.Generator | None) -> torch.Tensor:
    b, dev = x.shape[0], x.device
    angle = _sym(b, g, dev) * math.radians(op["degrees"])
    lo, hi = op["scale"]
    scale = lo + _rand(b, g, dev) * (hi - lo)
    tx = _sym(b, g, dev) * 2 * op["translate"]  # affine_grid coordinates span 2: ±t of the side
    ty = _sym(b, g, dev) * 2 * op["translate"]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return _apply(x, out, op["p"], g)


def _brightness_contrast(x: torch.Tensor, op: dict, g: torch.Generator | None) -> torch.Tensor:
    b, dev = x.shape[0], x.device
    bright = _sym(b, g, dev).view(-1, 1, 1, 1) * op["brightness"]
    contrast = 1 + _sym(b, g, dev).view(-1, 1, 1, 1) * op["contrast"]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return _apply(x, (x - mean) * contrast + mean + bright, op["p"], g)


def _gaussian_noise(x: torch.Tensor, op: dict, g: torch.Generator | None) -> torch.Tensor:
    if g is None or g.device == x.device:
        noise = torch.randn(x.shape, generator=g, device=x.device)
    else:
        noise = torch.randn(x.shape, generator=g, device=g.device).to(x.device, non_blocking=True)
    return _apply(x, (x + noise * op["std"]).clamp_(0, 1), op["p"], g)


def _contrast_stretch(x: torch.Tensor, op: dict, g: torch.Generator | None) -> torch.Tensor:
    # Drawn first, as the original "medical" preset did, so its stream is unchanged.
    pick = (_rand(x.shape[0], g, x.device) < op["p"]).view(-1, 1, 1, 1)
    flat = x.flatten(1)
    lo = torch.quantile(flat, op["low"] / 100, dim=1).view(-1, 1, 1, 1)
    hi = torch.quantile(flat, op["high"] / 100, dim=1).view(-1, 1, 1, 1)
    return torch.where(pick, (x - lo) / (hi - lo).clamp_min(1e-3), x)


_BATCH_OPS = {"random_crop": _random_crop, "hflip": _hflip, "vflip": _vflip, "affine": _affine,
              "brightness_contrast": _brightness_contrast, "gaussian_noise": _gaussian_noise,
              "contrast_stretch": _contrast_stretch}
