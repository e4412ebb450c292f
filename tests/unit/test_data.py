"""Dataset layouts, split carving, the decode-once cache and batch augmentation."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reportgen.config import load_experiment
from reportgen.data import open_dataset
from reportgen.data.batches import Normalization, augment_batch, batch_indices, to_model_input
from reportgen.data.cache import cache_dir, decode_split
from reportgen.data.sources import SplitSource, stratified_indices
from tests.conftest import DEMO_NPZ, write_toml


def folder_toml(tmp_path: Path, root: Path, extra: str = "") -> Path:
    return write_toml(tmp_path / "f.toml", f"""
        [[datasets]]
        name = "f"
        kind = "folder"
        path = "{root}"
        min_val_size = 4
        val_fraction = 0.25
        {extra}
        [[backbones]]
        name = "resnet18"
        """)


def make_images(root: Path, split: str, cls: str, n: int, *, start: int = 0) -> None:
    d = root / split / cls
    d.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        Image.fromarray(np.full((20, 20), (i * 7) % 255, dtype=np.uint8)).save(d / f"{i}.png")


def test_npz_splits_and_classes() -> None:
    exp_spec = load_experiment(Path(__file__).parents[2] / "experiments" / "demo.toml").datasets[0]
    ds = open_dataset(exp_spec)
    assert ds.classes == ["normal", "pneumonia"]
    assert ds.task == "binary" and ds.color == "gray"
    facts = ds.facts()
    # PneumoniaMNIST's published split sizes; train is subsampled (stratified) to 2000 for the demo
    assert facts["splits"]["val"]["counts"] == [135, 389]
    assert facts["splits"]["test"]["counts"] == [234, 390]
    assert facts["splits"]["train"]["n"] == 2500
    assert facts["train_subsampled"]["from_n"] == 4708
    share = facts["splits"]["train"]["counts"][1] / 2500
    assert share == pytest.approx(3494 / 4708, abs=0.002)


def test_tiny_val_is_folded_into_train_and_carved(tmp_path: Path) -> None:
    root = tmp_path / "xr"
    for c, n in (("A", 12), ("B", 8)):
        make_images(root, "train", c, n)
        make_images(root, "test", c, 3)
    make_images(root, "val", "A", 1, start=100)  # a 2-image val set, like Kermany's 16
    make_images(root, "val", "B", 1, start=100)
    ds = open_dataset(load_experiment(folder_toml(tmp_path, root)).datasets[0])
    rec = ds.split_record["val_carved"]
    assert rec["original_val_n"] == 2 and rec["fraction"] == 0.25
    assert ds.facts()["val_split"]["source"] == "carved" and ds.facts()["val_split"]["n"] == 5
    n_train, n_val = len(ds.source.splits["train"]), len(ds.source.splits["val"])
    assert n_train + n_val == 22
    assert np.bincount(ds.source.splits["val"].labels).tolist() == [3, 2]  # round(0.25·13), round(0.25·9)
    assert len(ds.source.splits["test"]) == 6  # test is never touched


def _npz_with_val(tmp_path: Path, n_train: int, n_val: int, extra: str = "") -> Path:
    """A copy of PneumoniaMNIST cut to ``n_train`` / ``n_val`` / 156 images (val from the official val)."""
    d = np.load(DEMO_NPZ)
    arrays = {"train_images": d["train_images"][:n_train], "train_labels": d["train_labels"][:n_train],
              "val_images": d["val_images"][:n_val], "val_labels": d["val_labels"][:n_val],
              "test_images": d["test_images"][:156], "test_labels": d["test_labels"][:156]}
    np.savez(tmp_path / "cut.npz", **arrays)
    return write_toml(tmp_path / "cut.toml", f"""
        [[datasets]]
        name = "cut"
        kind = "npz"
        path = "{tmp_path / 'cut.npz'}"
        {extra}
        [[backbones]]
        name = "resnet18"
        """)


def test_official_val_is_never_replaced_by_a_smaller_carved_one(tmp_path: Path) -> None:
    # BreastMNIST's sizes: train 546, val 78. Default min_val_size 100, val_fraction 0.1: carving would
    # give 62 images, fewer than the official 78, so the official split stays (and is flagged small).
    ds = open_dataset(load_experiment(_npz_with_val(tmp_path, 546, 78)).datasets[0])
    official = np.load(tmp_path / "cut.npz")["val_labels"][:, 0]
    assert np.array_equal(ds.source.splits["val"].labels, official)
    assert len(ds.source.splits["train"]) == 546
    facts = ds.facts()
    vs = facts["val_split"]
    assert vs["source"] == "official" and vs["official_n"] == 78 and vs["n"] == 78 and vs["small"] is True
    assert vs["min_val_size"] == 100 and vs["carved_from"] is None and vs["fraction"] is None
    assert "62" in vs["reason"]
    assert facts["val_carved"] is None and facts["splits"]["val"]["n"] == 78


def test_tiny_official_val_is_carved_larger(tmp_path: Path) -> None:
    # Kermany's case: 16 official validation images; 10 % of train + val is larger, so it is carved.
    ds = open_dataset(load_experiment(_npz_with_val(tmp_path, 1000, 16)).datasets[0])
    vs = ds.facts()["val_split"]
    n_val = len(ds.source.splits["val"])
    assert vs["source"] == "carved" and vs["official_n"] == 16 and vs["n"] == n_val
    assert n_val == pytest.approx(0.1 * 1016, abs=1)  # stratified: rounded per class
    assert vs["carved_from"] == "train" and vs["fraction"] == 0.1 and vs["seed"] == 0 and vs["small"] is False
    assert len(ds.source.splits["train"]) + n_val == 1016
    assert ds.facts()["val_carved"]["original_val_n"] == 16


def test_large_official_val_is_kept_as_is(tmp_path: Path) -> None:
    ds = open_dataset(load_experiment(_npz_with_val(tmp_path, 300, 150)).datasets[0])
    vs = ds.facts()["val_split"]
    assert vs["source"] == "official" and vs["n"] == 150 and vs["small"] is False


def test_stratified_indices_are_seeded() -> None:
    labels = np.array([0] * 50 + [1] * 10)
    a, b = stratified_indices(labels, 0.2, seed=3), stratified_indices(labels, 0.2, seed=3)
    assert np.array_equal(a, b)
    assert np.bincount(labels[a]).tolist() == [10, 2]


def test_cache_is_reused_and_invalidated_by_content_and_preprocessing(tmp_path: Path) -> None:
    root = tmp_path / "img"
    make_images(root, "train", "A", 4)
    files = sorted((root / "train" / "A").glob("*.png"))
    src = SplitSource(labels=np.zeros(4, dtype=np.int64), files=files)
    first = decode_split(src, size=16, color="gray")
    assert first.images.shape == (4, 1, 16, 16)
    entries = set(cache_dir().glob("*.npy"))
    again = decode_split(src, size=16, color="gray")
    assert again.key == first.key and set(cache_dir().glob("*.npy")) == entries  # reused, not re-decoded
    assert decode_split(src, size=24, color="gray").key != first.key  # preprocessing changed
    assert decode_split(src, size=16, color="rgb").images.shape == (4, 3, 16, 16)
    old_mtime = files[2].stat().st_mtime_ns
    Image.fromarray(np.full((20, 20), 200, dtype=np.uint8)).save(files[2])  # the image changed
    changed = decode_split(src, size=16, color="gray")
    assert changed.key != first.key
    assert int(changed.images[2].mean()) == 200 and int(first.images[2].mean()) != 200
    # Same bytes, new mtime: content-keyed, so the entry is reused.
    os.utime(files[2], ns=(old_mtime, old_mtime + 10**9))
    assert decode_split(src, size=16, color="gray").key == changed.key


def test_npz_decode_resizes_and_keeps_pixels() -> None:
    npz = np.load(DEMO_NPZ)
    src = SplitSource(labels=npz["test_labels"][:8, 0].astype(np.int64), arrays=npz["test_images"][:8])
    native = decode_split(src, size=28, color="gray")
    assert np.array_equal(np.asarray(native.images)[:, 0], npz["test_images"][:8])
    assert decode_split(src, size=64, color="gray").images.shape == (8, 1, 64, 64)


def test_batches_cover_every_sample_once() -> None:
    g = torch.Generator().manual_seed(0)
    seen = np.concatenate(list(batch_indices(103, 10, shuffle=True, generator=g)))
    assert sorted(seen.tolist()) == list(range(103))


def test_weighted_sampler_balances_classes() -> None:
    labels = np.array([0] * 900 + [1] * 100)
    w = 1.0 / np.bincount(labels)[labels]
    g = torch.Generator().manual_seed(0)
    drawn = np.concatenate(list(batch_indices(1000, 100, shuffle=True, generator=g, sample_weights=w)))
    share = (labels[drawn] == 1).mean()
    assert 0.4 < share < 0.6


def test_model_input_normalizes_and_repeats_gray() -> None:
    u8 = torch.full((2, 1, 8, 8), 255, dtype=torch.uint8)
    x = to_model_input(u8, Normalization(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
    assert x.shape == (2, 3, 8, 8) and torch.allclose(x, torch.full_like(x, 2.0))


@pytest.mark.parametrize("preset", ["flips", "medical"])
def test_augmentation_is_seeded_and_in_range(preset: str) -> None:
    x = torch.rand(6, 1, 32, 32)
    a = augment_batch(x.clone(), preset, generator=torch.Generator().manual_seed(1))
    b = augment_batch(x.clone(), preset, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.equal(a, x)


def test_flip_is_exact() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1) / 16
    out = augment_batch(x, "flips", generator=torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, x[0].flip(-1)) for o in out])
    same = torch.tensor([torch.equal(o, x[0]) for o in out])
    assert bool((flipped | same).all()) and 10 < int(flipped.sum()) < 54


def test_decode_is_bounded_by_a_memmap(tmp_path: Path) -> None:
    """The cache entry is a .npy opened memory-mapped, not an in-RAM array."""
    npz = np.load(DEMO_NPZ)
    src = SplitSource(labels=npz["val_labels"][:, 0].astype(np.int64), arrays=npz["val_images"])
    t = time.perf_counter()
    d = decode_split(src, size=32, color="gray")
    assert isinstance(d.images, np.memmap)
    assert time.perf_counter() - t < 30


def test_colour_is_detected_for_rgb_files_and_gray_for_rgb_saved_xrays(tmp_path: Path) -> None:
    from reportgen.data.cache import detect_color

    gray_rgb, colour = tmp_path / "g.png", tmp_path / "c.png"
    Image.fromarray(np.repeat(np.arange(64, dtype=np.uint8).reshape(8, 8, 1), 3, axis=2)).save(gray_rgb)
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # red fundus-like image
    Image.fromarray(rgb).save(colour)
    assert detect_color(SplitSource(labels=np.zeros(1, dtype=np.int64), files=[gray_rgb])) == "gray"
    assert detect_color(SplitSource(labels=np.zeros(2, dtype=np.int64), files=[gray_rgb, colour])) == "rgb"
