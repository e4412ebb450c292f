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


def to_model_input(batch_u8: torch.Tensor, norm: Normalization, *, augment: str = "none",
                   generator: torch.Generator | None = None, channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, 1|3, S, S) → normalized float (B, 3, S, S), augmented when training."""
    x = batch_u8.float().div_(255.0)
    if augment != "none":
        x = augment_batch(x, augment, generator=generator)
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


def augment_batch(x: torch.Tensor, preset: str, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply an augmentation preset to a float batch in [0, 1].

    ``flips``: horizontal flip with p = 0.5.
    ``medical``: no flips (anatomy has a side), a small random affine (±7°, ±4 % shift, ±5 % scale),
    brightness/contrast jitter (±10 %), and with p = 0.5 a percentile contrast stretch
    (2nd–98th percentile to 0–1), a cheap global stand-in for CLAHE's contrast enhancement.
    """
    b, dev = x.shape[0], x.device
    if preset == "flips":
        flip = _rand(b, generator, dev) < 0.5
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    if preset != "medical":
        raise ValueError(f"unknown augmentation preset {preset!r}")
    angle = (_rand(b, generator, dev) * 2 - 1) * math.radians(7)
    scale = 1 + (_rand(b, generator, dev) * 2 - 1) * 0.05
    tx = (_rand(b, generator, dev) * 2 - 1) * 0.08  # affine_grid coordinates span 2 → ±4 % of the side
    ty = (_rand(b, generator, dev) * 2 - 1) * 0.08
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    bright = (_rand(b, generator, dev) * 2 - 1).view(-1, 1, 1, 1) * 0.1
    contrast = 1 + (_rand(b, generator, dev) * 2 - 1).view(-1, 1, 1, 1) * 0.1
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + bright
    stretch = (_rand(b, generator, dev) < 0.5).view(-1, 1, 1, 1)
    flat = x.flatten(1)
    lo = torch.quantile(flat, 0.02, dim=1).view(-1, 1, 1, 1)
    hi = torch.quantile(flat, 0.98, dim=1).view(-1, 1, 1, 1)
    stretched = (x - lo) / (hi - lo).clamp_min(1e-3)
    x = torch.where(stretch, stretched, x)
    return x.clamp_(0, 1)
