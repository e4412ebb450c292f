"""Declarable input pipelines: every op on real images does what it says, where it says, and bad ops exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.config import load_experiment
from reportgen.data import open_dataset, pipeline
from reportgen.data.batches import augment_batch
from reportgen.data.cache import decode_split
from reportgen.data.sources import SplitSource
from tests.realstore import DEMO_NPZ, write_toml

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def real_u8() -> np.ndarray:
    """64 real PneumoniaMNIST test images, uint8 (64, 28, 28)."""
    return np.load(DEMO_NPZ)["test_images"][:64]


@pytest.fixture(scope="module")
def real_batch(real_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(real_u8).float().div(255).unsqueeze(1)  # (64, 1, 28, 28) in [0, 1]


def run(x: torch.Tensor, ops: list[dict], seed: int = 0) -> torch.Tensor:
    return augment_batch(x.clone(), pipeline.check_augment(ops), generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- random ops, on real images
@pytest.mark.parametrize("op,axis", [("hflip", -1), ("vflip", -2)])
def test_flip_is_an_exact_mirror_for_a_share_p(real_batch: torch.Tensor, op: str, axis: int) -> None:
    assert torch.equal(run(real_batch, [{"op": op, "p": 1.0}]), real_batch.flip(axis))
    assert torch.equal(run(real_batch, [{"op": op, "p": 0.0}]), real_batch)
    out = run(real_batch, [{"op": op, "p": 0.5}])
    mirrored = torch.tensor([torch.equal(o, x.flip(axis)) for o, x in zip(out, real_batch, strict=True)])
    same = torch.tensor([torch.equal(o, x) for o, x in zip(out, real_batch, strict=True)])
    assert bool((mirrored | same).all()) and 16 < int(mirrored.sum()) < 48


def test_random_crop_is_an_exact_window_at_varying_offsets(real_batch: torch.Tensor) -> None:
    out = run(real_batch, [{"op": "random_crop", "size": 20}])
    assert out.shape == (64, 1, 20, 20)
    offsets = set()
    for o, x in zip(out, real_batch, strict=True):
        hits = [(i, j) for i in range(9) for j in range(9) if torch.equal(o, x[:, i:i + 20, j:j + 20])]
        assert hits, "every crop must be an exact 20×20 window of its own image"
        offsets.add(hits[0])
    assert len(offsets) > 20  # drawn per image, not one offset for the batch


def test_gaussian_noise_has_the_declared_std(real_batch: torch.Tensor) -> None:
    x = 0.25 + 0.5 * real_batch  # away from 0 and 1, so clamping does not shrink the measured spread
    for std in (0.02, 0.05):
        diff = run(x, [{"op": "gaussian_noise", "std": std}]) - x
        assert float(diff.std()) == pytest.approx(std, rel=0.03)
        assert abs(float(diff.mean())) < std / 20


def test_brightness_shifts_each_image_by_one_amount_within_the_bound(real_batch: torch.Tensor) -> None:
    x = 0.25 + 0.5 * real_batch
    diff = run(x, [{"op": "brightness_contrast", "brightness": 0.1, "contrast": 0.0}]) - x
    per_image = diff.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    assert float(per_image.abs().max()) <= 0.1 + 1e-6 and float(per_image[:, 0].std()) > 0.02


def test_contrast_scales_around_each_images_mean(real_batch: torch.Tensor) -> None:
    x = 0.25 + 0.5 * real_batch
    out = run(x, [{"op": "brightness_contrast", "brightness": 0.0, "contrast": 0.2}])
    ratio = (out - out.mean(dim=(1, 2, 3), keepdim=True)).std(dim=(1, 2, 3)) / \
        (x - x.mean(dim=(1, 2, 3), keepdim=True)).std(dim=(1, 2, 3))
    assert float(ratio.min()) >= 0.8 - 1e-4 and float(ratio.max()) <= 1.2 + 1e-4 and float(ratio.std()) > 0.03


def test_affine_identity_parameters_leave_the_image_and_rotation_changes_it(real_batch: torch.Tensor) -> None:
    same = run(real_batch, [{"op": "affine", "degrees": 0, "translate": 0, "scale": [1, 1]}])
    assert torch.allclose(same, real_batch, atol=1e-5)
    moved = run(real_batch, [{"op": "affine", "degrees": 15, "translate": 0.05, "scale": [0.9, 1.1]}])
    assert float((moved - real_batch).abs().mean()) > 0.01
    half = run(real_batch, [{"op": "affine", "degrees": 15, "p": 0.5}])
    untouched = sum(torch.equal(o, x) for o, x in zip(half, real_batch, strict=True))
    assert 16 < untouched < 48


def test_every_op_is_seeded_and_stays_in_range(real_batch: torch.Tensor) -> None:
    ops = [{"op": "random_crop", "size": 24}, {"op": "hflip"}, {"op": "vflip"}, {"op": "affine", "degrees": 10},
           {"op": "brightness_contrast"}, {"op": "gaussian_noise"}, {"op": "contrast_stretch"}]
    a, b, c = run(real_batch, ops, 1), run(real_batch, ops, 1), run(real_batch, ops, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1 and a.shape == (64, 1, 24, 24)


def test_deterministic_ops_are_not_applied_again_per_batch(real_batch: torch.Tensor) -> None:
    ops = [{"op": "clahe"}, {"op": "resize", "size": 28}, {"op": "center_crop", "size": 28}]
    assert torch.equal(run(real_batch, ops), real_batch)


def test_presets_are_op_lists() -> None:
    assert pipeline.resolve("none") == [] and pipeline.resolve("flips") == [{"op": "hflip", "p": 0.5}]
    assert [op["op"] for op in pipeline.resolve("medical")] == ["affine", "brightness_contrast", "contrast_stretch"]
    assert not pipeline.is_random("none") and pipeline.is_random("medical")
    assert not pipeline.is_random([{"op": "clahe"}, {"op": "resize", "size": 32}])


# --------------------------------------------------------------------------- decode-time ops
def test_center_crop_and_clahe_at_decode_equal_numpy_and_cv2(real_u8: np.ndarray, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTGEN_CACHE_DIR", str(tmp_path / "cache"))
    src = SplitSource(labels=np.zeros(len(real_u8), dtype=np.int64), arrays=real_u8)
    plain = decode_split(src, size=28, color="gray")
    crop = decode_split(src, size=20, color="gray", ops=[{"op": "resize", "size": 28},
                                                         {"op": "center_crop", "size": 20}])
    assert np.array_equal(np.asarray(crop.images), np.asarray(plain.images)[:, :, 4:24, 4:24])
    eq = decode_split(src, size=28, color="gray", ops=[{"op": "clahe", "clip_limit": 2.0, "tile": 4}])
    op = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))
    expected = np.stack([op.apply(np.ascontiguousarray(im)) for im in real_u8])[:, None]
    assert np.array_equal(np.asarray(eq.images), expected)
    before = np.histogram(real_u8, bins=32, range=(0, 256))[0]
    after = np.histogram(np.asarray(eq.images), bins=32, range=(0, 256))[0]
    assert np.abs(before - after).sum() > 0.1 * real_u8.size  # the histogram really moved
    assert len({plain.key, crop.key, eq.key}) == 3  # the ops are part of the cache key


def test_deterministic_ops_reach_val_and_test_and_random_crop_becomes_a_centre_crop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTGEN_CACHE_DIR", str(tmp_path / "cache"))
    exp = load_experiment(_toml(tmp_path, augment='[{op = "clahe"}, {op = "resize", size = 36}, '
                                                  '{op = "random_crop", size = 32}, {op = "hflip"}]'))
    ds = open_dataset(exp.datasets[0])
    aug = exp.train["augment"]
    dec = ds.decoded(32, augment=aug)
    assert ds.decoded_sizes == []  # duplicate detection never reads pipeline-processed images
    plain = ds.decoded(32)
    assert ds.decoded_sizes == [32]
    assert dec["train"].images.shape[-1] == 36  # cropped per batch at train time
    assert dec["val"].images.shape[-1] == dec["test"].images.shape[-1] == 32
    for split in ("train", "val", "test"):
        assert dec[split].key != plain[split].key
    # CLAHE on the native 28 px image, resized to 36 px; val/test then take the centre 32×32 (the crop's counterpart).
    wide = ds.decoded(36, augment=[{"op": "clahe", "clip_limit": 2.0, "tile": 8}, {"op": "resize", "size": 36}])
    for split in ("val", "test"):
        assert np.array_equal(np.asarray(dec[split].images), np.asarray(wide[split].images)[:, :, 2:34, 2:34])
    assert np.array_equal(np.asarray(dec["train"].images), np.asarray(wide["train"].images))


def test_stages_and_record_print_every_step_per_split() -> None:
    rec = pipeline.record([{"op": "resize", "size": 256}, {"op": "random_crop", "size": 224},
                           {"op": "vflip", "p": 0.5}, {"op": "center_crop", "size": 224}], 224)
    assert [(s["op"], s["stage"]) for s in rec["train"]] == [("resize", "decode"), ("random_crop", "batch"),
                                                             ("vflip", "batch")]
    assert [(s["op"], s["params"]) for s in rec["eval"]] == [("resize", {"size": 256}), ("center_crop", {"size": 224})]
    assert pipeline.record("flips", 32)["eval"] == [{"op": "resize", "params": {"size": 32}, "stage": "decode"}]


# --------------------------------------------------------------------------- bad input: exit 2, the key path
def _toml(tmp_path: Path, *, augment: str = '"none"', backbone: str = 'name = "smallcnn"\nweights = "none"',
          size: int = 32, extra: str = "") -> Path:
    return write_toml(tmp_path / "p.toml", f"""
[experiment]
name = "p"
output_dir = "{tmp_path / 'runs'}"
strategies = ["scratch"]

[[datasets]]
name = "pneu"
kind = "npz"
path = "{DEMO_NPZ}"
max_train_samples = 64

[[backbones]]
{backbone}
input_size = {size}

[train]
augment = {augment}
{extra}
""")


@pytest.mark.parametrize("augment,extra,key,hint", [
    ('[{op = "hflip"}, {op = "vflip"}, {op = "hflip"}, {op = "affine", degrees = 400}]', "",
     "train.augment[3].degrees", "≤ 180"),
    ('[{op = "rezise", size = 32}]', "", "train.augment[0].op", 'did you mean "resize"'),
    ('[{op = "affine", degres = 5}]', "", "train.augment[0].degres", 'did you mean "degrees"'),
    ('[{op = "resize", size = 40}, {op = "random_crop"}]', "", "train.augment[1].size", "random_crop needs size"),
    ('[{op = "hflip", p = true}]', "", "train.augment[0].p", "a number"),
    ('"medcal"', "", "train.augment", 'did you mean "medical"'),
    ('["hflip"]', "", "train.augment[0]", "inline table"),
    ('"none"', '[overrides.strategy.scratch]\naugment = [{op = "gaussian_noise", std = 0}]',
     "overrides.strategy.scratch.augment[0].std", "> 0"),
    ('[{op = "resize", size = 40}]', "", "train.augment[0].size", "input_size (32 px), not 40"),
    ('[{op = "resize", size = 40}, {op = "center_crop", size = 48}]', "", "train.augment[1].size", "no larger"),
    ('[{op = "resize", size = 40}, {op = "random_crop", size = 32}, {op = "resize", size = 32}]', "",
     "train.augment[2].op", "no resize after random_crop"),
])
def test_bad_pipelines_exit_2_naming_the_element(tmp_path: Path, augment: str, extra: str, key: str,
                                                 hint: str) -> None:
    toml = _toml(tmp_path, augment=augment, extra=extra.replace("[overrides", "\n[overrides"))
    if extra.startswith("[overrides"):  # an [overrides] table must come after [train]'s keys
        text = toml.read_text(encoding="utf-8")
        toml.write_text(text.replace(extra.replace("[overrides", "\n[overrides"), "") + "\n" + extra + "\n",
                        encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 2, result.output
    assert f"{key}:" in result.output and hint in result.output
    assert "Traceback" not in result.output and "fix:" in result.output
    assert not (tmp_path / "runs").exists()


def test_small_stem_on_an_unsupported_family_exits_2(tmp_path: Path) -> None:
    toml = _toml(tmp_path, backbone='name = "vgg11"\nweights = "none"\nstem = "small"')
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 2 and "backbones[0].stem:" in result.output and "vgg11" in result.output


def test_a_good_pipeline_validates(tmp_path: Path) -> None:
    toml = _toml(tmp_path, augment='[{op = "clahe", clip_limit = 1.5, tile = 8}, {op = "resize", size = 36}, '
                                   '{op = "random_crop", size = 32}, {op = "hflip", p = 0.5}, '
                                   '{op = "center_crop", size = 32}]')
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- stem = "small"
def test_small_stem_keeps_a_larger_final_feature_map_at_28_px() -> None:
    from reportgen.models.backbones import WeightsChoice, build_model

    sizes = {}
    for stem in ("default", "small"):
        built = build_model("resnet18", WeightsChoice("none"), num_outputs=2, input_size=28, stem=stem)
        seen = []
        built.model.layer4.register_forward_hook(lambda m, i, o, seen=seen: seen.append(o.shape[-1]))
        built.model.eval()
        with torch.no_grad():
            assert built.model(torch.zeros(2, 3, 28, 28)).shape == (2, 2)
        sizes[stem] = seen[0]
        assert (built.stem is None) == (stem == "default")
    assert sizes["default"] == 1 and sizes["small"] == 4
    assert built.model.conv1.kernel_size == (3, 3) and built.model.conv1.stride == (1, 1)
    assert isinstance(built.model.maxpool, torch.nn.Identity)


@pytest.mark.parametrize("lab,first_eval,batch_ops", [
    ("retinopathy", ["resize", "center_crop"], ["hflip", "vflip", "random_crop"]),
    ("cxr4", ["clahe", "resize", "center_crop", "resize"], ["affine", "brightness_contrast", "gaussian_noise", "hflip"]),
])
def test_lab_pipelines_fit_their_backbones(lab: str, first_eval: list[str], batch_ops: list[str]) -> None:
    exp = load_experiment(Path(__file__).resolve().parents[2] / "experiments" / f"{lab}.toml")
    pipeline.check_experiment(exp)  # what validate runs before it looks for the (absent) data
    for b in exp.backbones:
        rec = pipeline.record(exp.train_config(backbone=b.name, strategy=exp.strategies[0])["augment"], b.input_size)
        assert [s["op"] for s in rec["eval"]] == first_eval
        assert [s["op"] for s in rec["train"] if s["stage"] == "batch"] == batch_ops
