"""Cross-split duplicate detection: planted exact and near copies are found, distinct images are not."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from reportgen.data.dedup import find_cross_split_duplicates, hamming, image_hashes


def _smooth_images(n: int, size: int = 28, seed: int = 0) -> np.ndarray:
    """Distinct smooth images (random 8×8 patterns upsampled), like low-resolution scans."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.Resampling.BICUBIC))
                     for c in coarse])


def test_hashes_shape_and_exactness():
    imgs = _smooth_images(5)
    exact, ph = image_hashes(imgs)
    assert len(exact) == 5 and len(set(exact)) == 5
    assert ph.dtype == np.uint64 and ph.shape == (5,)
    assert image_hashes(imgs[:1].copy())[0][0] == exact[0]


def test_rgb_and_gray_give_same_phash():
    gray = _smooth_images(3)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    assert (image_hashes(rgb)[1] == image_hashes(gray)[1]).all()


def test_hamming_popcount():
    a = np.array([0, 0xFFFF_FFFF_FFFF_FFFF], dtype=np.uint64)
    b = np.array([0b1011], dtype=np.uint64)
    assert hamming(a, b).ravel().tolist() == [3, 61]


def test_planted_exact_and_near_duplicates_are_found():
    train = _smooth_images(200, seed=1)
    test = _smooth_images(50, seed=2)
    test[7] = train[3]  # exact copy
    test[11] = np.clip(train[42].astype(int) + 10, 0, 255).astype(np.uint8)  # brighter copy
    big_train = _smooth_images(20, size=96, seed=3)
    big_val = _smooth_images(5, size=96, seed=4)
    big_val[2] = np.roll(big_train[5], 1, axis=1)  # 1-px shift of a larger image
    found = find_cross_split_duplicates({"train": train, "test": test})
    assert found["exact"] == [{"a": ["train", 3], "b": ["test", 7]}]
    near = [(p["a"], p["b"]) for p in found["near"]]
    assert near == [(["train", 42], ["test", 11])]
    assert found["counts"] == {"exact": 1, "near": 1}
    assert "Hamming ≤ 4" in found["method"]

    shifted = find_cross_split_duplicates({"train": big_train, "val": big_val})
    assert [(p["a"], p["b"]) for p in shifted["near"]] == [(["train", 5], ["val", 2])]
    assert shifted["exact"] == []


def test_duplicates_within_one_split_are_ignored():
    train = _smooth_images(30)
    train[1] = train[0]
    found = find_cross_split_duplicates({"train": train, "val": _smooth_images(10, seed=9)})
    assert found["counts"] == {"exact": 0, "near": 0}


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="uint8"):
        image_hashes(np.zeros((2, 8, 8), dtype=np.float32))


def test_six_thousand_images_in_a_few_seconds():
    splits = {"train": _smooth_images(4700, seed=5), "val": _smooth_images(520, seed=6),
              "test": _smooth_images(620, seed=7)}
    start = time.perf_counter()
    found = find_cross_split_duplicates(splits)
    assert time.perf_counter() - start < 10
    assert found["counts"] == {"exact": 0, "near": 0}
