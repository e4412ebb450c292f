"""Duplicate images across splits: exact (SHA-1 of the pixels) and near (64-bit DCT pHash).

A test image that also sits in the training set (or a near copy of it) inflates test scores; the
runner calls :func:`find_cross_split_duplicates` while loading a dataset and stores the result in
``datasets/<name>.json`` (``docs/results-store.md``), where ``reportgen.describe.checks`` reads it.
Torch-free: numpy, scipy and Pillow only.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from PIL import Image
from scipy.fft import dctn

log = logging.getLogger(__name__)

HASH_SIZE = 32  # images are shrunk to 32×32 before the DCT (the classic pHash recipe)
LOW_FREQ = 8  # the top-left 8×8 DCT block gives the 64 hash bits
DEFAULT_NEAR_MAX_DISTANCE = 4
MAX_LISTED_PAIRS = 1000  # keep datasets/<name>.json small when a split is full of copies
_CHUNK_PAIRS = 4_000_000  # bound the XOR matrix to ~32 MB per chunk

# Popcount of every byte value, for numpy versions without np.bitwise_count (< 2.0).
_POPCOUNT8 = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)


def _popcount64(x: np.ndarray) -> np.ndarray:
    """Number of set bits in each uint64 element."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return _POPCOUNT8[x.view(np.uint8)].reshape(*x.shape, 8).sum(axis=-1, dtype=np.uint8)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"expected a uint8 array (N,H,W) or (N,H,W,C), got {images.dtype} {images.shape}")
    if images.ndim == 4 and images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected 1, 3 or 4 channels last, got shape {images.shape}")
    return images


def _gray_32(image: np.ndarray) -> np.ndarray:
    """One image as a 32×32 float grayscale array (Pillow does the colour conversion and resize)."""
    if image.ndim == 3:
        image = image[..., 0] if image.shape[-1] == 1 else image[..., :3]
    pil = Image.fromarray(np.ascontiguousarray(image))
    if pil.mode != "L":
        pil = pil.convert("L")
    return np.asarray(pil.resize((HASH_SIZE, HASH_SIZE), Image.Resampling.BILINEAR), dtype=np.float32)


def phash(images: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hashes, one uint64 per image."""
    images = _check_images(images)
    if len(images) == 0:
        return np.zeros(0, dtype=np.uint64)
    small = np.stack([_gray_32(img) for img in images])
    low = dctn(small, axes=(1, 2), norm="ortho")[:, :LOW_FREQ, :LOW_FREQ].reshape(len(images), -1)
    bits = low > np.median(low, axis=1, keepdims=True)
    # packbits is big-endian per byte; reading the 8 bytes as big-endian uint64 keeps bit 0 = DC term.
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


def image_hashes(images: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Exact (SHA-1 hex of the raw pixels) and perceptual (uint64 pHash) hashes of each image."""
    images = _check_images(images)
    exact = [hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest() for img in images]
    return exact, phash(images)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between two vectors of uint64 hashes, shape (len(a), len(b))."""
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    return _popcount64(a[:, None] ^ b[None, :])


def _exact_pairs(names: list[str], exact: dict[str, list[str]]) -> list[tuple[str, int, str, int]]:
    """All (split_a, i, split_b, j) with identical pixels and split_a before split_b."""
    where: dict[str, list[tuple[int, int]]] = {}
    for s, name in enumerate(names):
        for i, h in enumerate(exact[name]):
            where.setdefault(h, []).append((s, i))
    pairs = []
    for hits in where.values():
        if len(hits) < 2:
            continue
        for x, (sa, i) in enumerate(hits):
            for sb, j in hits[x + 1:]:
                if sa != sb:
                    pairs.append((names[sa], i, names[sb], j))
    return sorted(pairs, key=lambda p: (names.index(p[0]), names.index(p[2]), p[1], p[3]))


def _near_pairs(
    a: str, b: str, hashes: dict[str, tuple[list[str], np.ndarray]], max_distance: int
) -> list[tuple[str, int, str, int, int]]:
    """Pairs between splits ``a`` and ``b`` within ``max_distance`` bits that are not exact copies."""
    exact_a, ph_a = hashes[a]
    exact_b, ph_b = hashes[b]
    if len(ph_a) == 0 or len(ph_b) == 0:
        return []
    out = []
    rows = max(1, _CHUNK_PAIRS // len(ph_b))
    for start in range(0, len(ph_a), rows):
        dist = hamming(ph_a[start:start + rows], ph_b)
        for i, j in zip(*np.nonzero(dist <= max_distance), strict=False):
            i = int(i) + start
            j = int(j)
            if exact_a[i] != exact_b[j]:
                out.append((a, i, b, j, int(dist[i - start, j])))
    return out


def find_cross_split_duplicates(
    splits: dict[str, np.ndarray], *, near_max_distance: int = DEFAULT_NEAR_MAX_DISTANCE,
    max_listed: int = MAX_LISTED_PAIRS,
) -> dict:
    """Exact and near-duplicate image pairs that lie in *different* splits.

    Args:
        splits: split name → uint8 images (N,H,W) or (N,H,W,C); the dict order sets which split is ``a``.
        near_max_distance: largest pHash Hamming distance counted as a near duplicate.
        max_listed: at most this many pairs of each kind are listed; ``counts`` are always complete.

    Returns:
        ``{"exact": [{"a": [split, i], "b": [split, j]}], "near": [{..., "distance": d}], "method": str,
        "counts": {"exact": n, "near": m}, "truncated": bool}``.
    """
    names = list(splits)
    hashes = {name: image_hashes(images) for name, images in splits.items()}
    exact = _exact_pairs(names, {name: h[0] for name, h in hashes.items()})
    near = []
    for x, a in enumerate(names):
        for b in names[x + 1:]:
            near.extend(_near_pairs(a, b, hashes, near_max_distance))
    log.info("cross-split duplicates: %d exact, %d near (Hamming <= %d)", len(exact), len(near),
             near_max_distance)
    return {
        "exact": [{"a": [sa, i], "b": [sb, j]} for sa, i, sb, j in exact[:max_listed]],
        "near": [{"a": [sa, i], "b": [sb, j], "distance": d} for sa, i, sb, j, d in near[:max_listed]],
        "method": f"sha1 + 64-bit DCT pHash, Hamming ≤ {near_max_distance}",
        "counts": {"exact": len(exact), "near": len(near)},
        "truncated": len(exact) > max_listed or len(near) > max_listed,
    }
