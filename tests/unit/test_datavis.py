"""Data the grader can see: sample PNGs and the augmentation preview written by the real runner, class
shares and the class-shift finding (hand-computed counts at the threshold and just below it)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reportgen.config import load_experiment
from reportgen.data import open_dataset, samples
from reportgen.describe import checks
from reportgen.i18n import LANGS
from reportgen.report.wording import describe
from reportgen.store import read_record
from reportgen.store.schema import AugmentPreview, DatasetFacts, SampleIndex, SplitCount


def _png(path: Path) -> np.ndarray:
    with Image.open(io.BytesIO(path.read_bytes())) as im:
        return np.asarray(im)


def _dataset(run_dir: Path, name: str):
    exp = load_experiment(run_dir / "experiment.toml")
    return open_dataset(next(d for d in exp.datasets if d.name == name))


# --------------------------------------------------------------------------- sample images (real runner)
def test_sample_pngs_cover_every_class_and_split_and_hold_the_decoded_pixels(real_store: Path) -> None:
    folder = real_store / "datasets" / "pneumoniamnist"
    index = read_record(SampleIndex, folder / "samples.json")  # validates against the schema
    assert index.input_size == 32 and index.scale == 3 and index.per_class == 4
    by = {(s.split, s.label): [x for x in index.samples if (x.split, x.label) == (s.split, s.label)]
          for s in index.samples}
    assert set(by) == {(sp, c) for sp in ("train", "val", "test") for c in (0, 1)}
    assert all(len(v) == 4 for v in by.values())

    ds = _dataset(real_store, "pneumoniamnist")
    decoded = ds.decoded(32)
    for s in index.samples:
        ids = ds.sample_ids(s.split)
        i = ids.index(s.sample_id)
        assert i == s.index and int(decoded[s.split].labels[i]) == s.label
        assert s.class_name == index.classes[s.label]
        png = _png(folder / "samples" / s.file)
        assert png.shape == (96, 96) and png.dtype == np.uint8
        # Nearest-neighbour upscaling: every third pixel is exactly the decoded image the model is fed.
        assert np.array_equal(png[::3, ::3], np.asarray(decoded[s.split].images[i])[0]), s.file
    # Spread over the class, not its first images.
    train0 = [s.index for s in by[("train", 0)]]
    first = list(np.flatnonzero(np.asarray(decoded["train"].labels) == 0)[:4])
    assert train0 != first and train0 == sorted(train0)


def test_spread_picks_evenly_and_keeps_small_classes_whole() -> None:
    assert samples.spread(np.arange(100), 4).tolist() == [12, 37, 62, 87]
    assert samples.spread(np.array([5, 9]), 4).tolist() == [5, 9]


def test_rewriting_samples_removes_files_the_index_no_longer_lists(tmp_path: Path, real_store: Path) -> None:
    ds = _dataset(real_store, "pneumoniamnist")
    decoded = ds.decoded(32)
    ids = {s: ds.sample_ids(s) for s in decoded}
    args = dict(run_dir=tmp_path, name="d", classes=ds.classes, color=ds.color, decoded=decoded, sample_ids=ids)
    samples.write_samples(**args, per_class=3)
    index = samples.write_samples(**args, per_class=2)
    files = sorted(p.name for p in (tmp_path / "datasets" / "d" / "samples").glob("*.png"))
    assert files == sorted(s.file for s in index.samples) and len(files) == 2 * 2 * 3


# --------------------------------------------------------------------------- augmentation preview
def _preview(tmp_path: Path, real_store: Path, augment: str, seed: int, name: str) -> tuple[Path, AugmentPreview]:
    ds = _dataset(real_store, "pneumoniamnist")
    cdir = tmp_path / name
    rec = samples.write_augment_preview(cdir, cell_id=name, dataset="pneumoniamnist", augment=augment,
                                        train=ds.decoded(32)["train"], classes=ds.classes,
                                        sample_ids=ds.sample_ids("train"), seed=seed)
    return cdir, rec


def test_augment_preview_changes_the_images_and_is_reproducible(tmp_path: Path, real_store: Path) -> None:
    a_dir, a = _preview(tmp_path, real_store, "medical", 0, "a")
    b_dir, _ = _preview(tmp_path, real_store, "medical", 0, "b")
    c_dir, _ = _preview(tmp_path, real_store, "medical", 1, "c")
    assert read_record(AugmentPreview, a_dir / "augment_preview.json") == a
    assert a.pipeline == "medical" and a.draws == samples.PREVIEW_DRAWS and len(a.images) == 4
    assert {img.label for img in a.images} == {0, 1}  # both classes shown
    ds = _dataset(real_store, "pneumoniamnist")
    train = ds.decoded(32)["train"]
    for img in a.images:
        before = _png(a_dir / "augment_preview" / img.before)
        assert np.array_equal(before[::3, ::3], np.asarray(train.images[img.index])[0])
        for f in img.after:
            after = _png(a_dir / "augment_preview" / f)
            assert not np.array_equal(after, before), f  # the random affine moves every image
            assert (b_dir / "augment_preview" / f).read_bytes() == (a_dir / "augment_preview" / f).read_bytes()
        draws = [_png(a_dir / "augment_preview" / f) for f in img.after]
        assert not all(np.array_equal(draws[0], d) for d in draws[1:])  # draws differ from each other
    other = [(c_dir / "augment_preview" / f).read_bytes() != (a_dir / "augment_preview" / f).read_bytes()
             for img in a.images for f in img.after]
    assert any(other)  # another seed, other draws


def test_no_preview_without_augmentation(tmp_path: Path, real_store: Path) -> None:
    cdir, rec = _preview(tmp_path, real_store, "none", 0, "n")
    assert rec is None and not cdir.exists()
    assert not list((real_store / "cells").glob("*/augment_preview.json"))  # real_store trains without augment


# --------------------------------------------------------------------------- class shares and the shift finding
def _facts(train: list[int], val: list[int], test: list[int]) -> DatasetFacts:
    return DatasetFacts(
        name="d", kind="npz", classes=["a", "b", "c", "d"][:len(train)], task="binary", color="gray",
        splits={s: SplitCount(n=sum(c), counts=c) for s, c in (("train", train), ("val", val), ("test", test))},
        val_carved=None, val_split=None, train_subsampled=None, description="", credit="", duplicates=None)


def test_class_shares_and_total_variation_by_hand() -> None:
    assert checks.class_shares([30, 10]) == [0.75, 0.25]
    assert checks.class_shares([1, 2, 1]) == [0.25, 0.5, 0.25]
    # 0.5 − 0.4 is 0.09999999999999998 in floats; the exact distance is 1/10.
    assert checks.total_variation([50, 50], [40, 60]) == Fraction(1, 10)
    assert checks.total_variation([1, 1, 2], [2, 1, 1]) == Fraction(1, 4)
    assert checks.total_variation([5, 5], [0, 0]) == 0


def test_shift_fires_at_the_threshold_and_not_below() -> None:
    at = checks.check_class_shift(_facts([500, 500], [50, 50], [40, 60]))
    assert [f.id for f in at] == ["class_shift_test"]
    ev = at[0].evidence
    assert ev["tvd"] == pytest.approx(0.1) and ev["n"] == 100 and ev["class_name"] == "a"
    assert ev["train_share"] == 0.5 and ev["split_share"] == 0.4 and ev["diff_pts"] == pytest.approx(-10)
    assert checks.check_class_shift(_facts([500, 500], [50, 50], [41, 59])) == []  # TVD 0.09
    # Four classes, none moves by 10 points, yet together 0.10 of the mass moved: fires on val, exactly at 0.10.
    four = checks.check_class_shift(_facts([100] * 4, [30, 30, 20, 20], [100] * 4))
    assert [f.id for f in four] == ["class_shift_val"] and abs(four[0].evidence["diff_pts"]) == pytest.approx(5)
    assert checks.check_class_shift(_facts([100] * 4, [29, 30, 21, 20], [100] * 4)) == []  # TVD 0.09


def test_shift_finding_is_part_of_the_run_checks_and_worded_in_every_language() -> None:
    facts = _facts([500, 500], [30, 70], [40, 60])
    found = checks.dataset_findings_from_facts(facts)
    assert {"class_shift_val", "class_shift_test"} <= {f.id for f in found}
    for f in found:
        for lang in LANGS:
            text = describe(f, lang)
            assert all(text.values()) and "{" not in "".join(text.values())
    en = describe(next(f for f in found if f.id == "class_shift_val"), "en")
    assert "0.200" in en["detail"] and "30.0%" in en["detail"] and "50.0%" in en["detail"]
