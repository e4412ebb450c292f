"""Pixel-faithful decoding (reportgen/data/decode.py): 16-bit, float and DICOM images to exact 8-bit pixels.

Expected values are computed independently: from the ramp's own numbers, or through pydicom's own
``apply_modality_lut`` / ``apply_voi_lut`` on pydicom's bundled test files (read from the installed package's
``data/test_files`` folder, never downloaded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reportgen.data import decode
from reportgen.data.cache import decode_split
from reportgen.data.dedup import find_cross_split_duplicates
from reportgen.data.sources import SplitSource
from reportgen.errors import DataError

pydicom = pytest.importorskip("pydicom")
from pydicom.pixels import apply_modality_lut, apply_voi_lut  # noqa: E402

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def bundled(name: str) -> Path:
    """A test file shipped inside the installed pydicom package (get_testdata_file may go online for others)."""
    p = TEST_FILES / name
    if not p.is_file():
        pytest.skip(f"{name} is not bundled with this pydicom")
    return p


def round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.uint8)


def pixels(path: Path, policy="auto") -> np.ndarray:
    im, _ = decode.read_image(path, policy)
    return np.asarray(im)


# --------------------------------------------------------------------------- 16-bit and float rasters
RAMP16 = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)  # 0, 257, …, 65535: k·257 ↦ k exactly


def test_16bit_ramp_png_decodes_to_exact_pixels_not_clipped(tmp_path: Path) -> None:
    p = tmp_path / "ramp.png"
    Image.fromarray(RAMP16).save(p)
    assert Image.open(p).mode == "I;16"
    expected = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for policy in ("auto", "minmax", "bit_depth"):
        assert np.array_equal(pixels(p, policy), expected), policy
    # What PIL's convert("L") gives for the same file: clipped, almost all white (the bug this replaces).
    clipped = np.asarray(Image.open(p).convert("L"))
    assert (clipped == 255).mean() > 0.98
    # The cache path (decode_split) yields the same values at native size.
    got = decode_split(SplitSource(labels=np.zeros(1, np.int64), files=[p]), size=16, color="gray").images[0, 0]
    assert np.array_equal(got, expected)


def test_12bit_values_in_a_16bit_png_follow_the_declared_policy(tmp_path: Path) -> None:
    ramp = np.linspace(100, 4000, 64, dtype=np.float64).round().astype(np.uint16).reshape(8, 8)
    p = tmp_path / "ramp12.png"
    Image.fromarray(ramp).save(p)
    v = ramp.astype(np.float64)
    assert np.array_equal(pixels(p, "minmax"), round_half_up((v - 100) / (4000 - 100) * 255))
    assert np.array_equal(pixels(p, "auto"), pixels(p, "minmax"))
    assert np.array_equal(pixels(p, "bit_depth"), round_half_up(v / 65535 * 255))
    # DICOM LINEAR window, centre 2048, width 1000: c - 0.5 ± (w - 1) / 2 bounds, saturating outside.
    win = pixels(p, {"window": [2048.0, 1000.0]})
    exp = round_half_up(np.clip((v - 2047.5) / 999 + 0.5, 0, 1) * 255)
    assert np.array_equal(win, exp)
    assert win.min() == 0 and win.max() == 255


def test_16bit_tiff_float_tiff_and_16bit_rgb(tmp_path: Path) -> None:
    import cv2

    t16 = tmp_path / "ramp.tif"
    Image.fromarray(RAMP16).save(t16)
    assert np.array_equal(pixels(t16), np.arange(256, dtype=np.uint8).reshape(16, 16))

    f = np.linspace(-2.0, 6.0, 64, dtype=np.float32).reshape(8, 8)
    tf = tmp_path / "float.tif"
    Image.fromarray(f).save(tf)
    assert np.array_equal(pixels(tf), round_half_up((f.astype(np.float64) + 2) / 8 * 255))
    with pytest.raises(DataError, match="outside"):
        pixels(tf, "bit_depth")  # floats outside 0..1 are refused, never clipped
    unit = tmp_path / "unit.tif"
    Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)).save(unit)
    assert np.array_equal(pixels(unit, "bit_depth"), round_half_up(np.linspace(0, 1, 64).reshape(8, 8) * 255))

    rgb16 = np.stack([RAMP16, RAMP16[::-1], RAMP16.T], axis=-1)
    p = tmp_path / "rgb16.png"
    cv2.imwrite(str(p), rgb16[..., ::-1])  # OpenCV writes BGR
    got = pixels(p, "bit_depth")
    assert got.shape == (16, 16, 3)
    assert np.array_equal(got, (rgb16 // 257).astype(np.uint8))


def test_8bit_images_are_byte_identical_under_auto(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    p = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(p)
    im, tags = decode.read_image(p)
    assert tags == ("8-bit", "as_stored")
    assert np.array_equal(np.asarray(im), np.asarray(Image.open(p)))
    small = np.asarray(Image.open(p).convert("L"))
    stretched = pixels(p, "minmax")  # declared min-max on an RGB image: all channels jointly
    assert stretched.shape == (20, 20, 3) and stretched.min() == 0 and stretched.max() == 255
    assert small.shape == (20, 20)


def test_16bit_images_give_no_false_cross_split_duplicates(tmp_path: Path) -> None:
    """16-bit noise above 255: clipping made every image pure white, i.e. 'identical' across splits."""
    rng = np.random.default_rng(1)
    files = {}
    for split in ("train", "test"):
        files[split] = []
        for i in range(3):
            p = tmp_path / f"{split}{i}.png"
            Image.fromarray(rng.integers(300, 65535, (32, 32), dtype=np.uint16)).save(p)
            files[split].append(p)
    clipped = {s: np.stack([np.asarray(Image.open(f).convert("L")) for f in fs]) for s, fs in files.items()}
    assert find_cross_split_duplicates(clipped)["counts"]["exact"] == 9  # the old decode: all pairs "equal"
    decoded = {s: decode_split(SplitSource(labels=np.zeros(3, np.int64), files=fs), size=32, color="gray")
               for s, fs in files.items()}
    assert decoded["train"].census == {"source": {"16-bit": 3}, "mapping": {"minmax": 3}}
    found = find_cross_split_duplicates({s: np.asarray(d.images)[:, 0] for s, d in decoded.items()})
    assert found["counts"] == {"exact": 0, "near": 0}


def test_intensity_config_values() -> None:
    assert decode.check_intensity("minmax") == "minmax"
    assert decode.check_intensity({"window": [40, 400]}) == {"window": [40.0, 400.0]}
    for bad in ("clip", {"window": [40]}, {"window": [40, 0]}, {"level": [1, 2]}, 3):
        with pytest.raises(ValueError, match="minmax"):
            decode.check_intensity(bad)


# --------------------------------------------------------------------------- DICOM (pydicom's bundled files)
def expected_dicom(path: Path, *, centre: float | None = None, width: float | None = None) -> np.ndarray:
    """pydicom's modality LUT then VOI window, put on 0–255 by the window's own output range."""
    ds = pydicom.dcmread(path)
    values = apply_modality_lut(ds.pixel_array, ds)
    if centre is not None:
        ds.WindowCenter, ds.WindowWidth = centre, width
    if "WindowCenter" not in ds:
        v = values.astype(np.float64)
        return round_half_up((v - v.min()) / (v.max() - v.min()) * 255)
    y = apply_voi_lut(values, ds).astype(np.float64)
    lo, hi = apply_voi_lut(np.array([-1e9, 1e9]), ds)  # the output's full range (window saturated both ways)
    return round_half_up((y - lo) / (hi - lo) * 255)


@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
                                  "MR_small_jpeg_ls_lossless.dcm"])
def test_mr_small_and_its_compressed_variants_decode_to_the_files_window(name: str) -> None:
    p = bundled(name)
    got, tags = decode.read_dicom(p)
    assert tags == ("dicom", "file_window")  # MR_small stores window 600 / 1600
    assert got.dtype == np.uint8 and got.shape == (64, 64)
    assert np.array_equal(got, expected_dicom(p))
    # Lossless: every variant is the uncompressed file's picture.
    assert np.array_equal(got, decode.read_dicom(bundled("MR_small.dcm"))[0])


def test_ct_small_applies_rescale_and_the_declared_window() -> None:
    p = bundled("CT_small.dcm")
    ds = pydicom.dcmread(p)
    assert float(ds.RescaleIntercept) == -1024  # the modality LUT matters here
    got, tags = decode.read_dicom(p)  # no window in the file: min-max over Hounsfield units
    assert tags == ("dicom", "minmax") and np.array_equal(got, expected_dicom(p))
    got, tags = decode.read_dicom(p, {"window": [40.0, 400.0]})  # a soft-tissue window, in HU
    assert tags == ("dicom", "window")
    assert np.array_equal(got, expected_dicom(p, centre=40.0, width=400.0))
    hu = apply_modality_lut(ds.pixel_array, ds)
    assert (got[hu <= 40 - 0.5 - 399 / 2] == 0).all() and (got[hu > 40 - 0.5 + 399 / 2] == 255).all()


def test_monochrome1_comes_out_inverted(tmp_path: Path) -> None:
    ds = pydicom.dcmread(bundled("MR_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    p = tmp_path / "mono1.dcm"
    ds.save_as(p)
    got, tags = decode.read_dicom(p)
    assert tags == ("dicom", "file_window+inverted")
    assert np.array_equal(got, 255 - expected_dicom(bundled("MR_small.dcm")))


def test_multi_frame_dicom_is_refused_with_a_clear_message() -> None:
    p = bundled("rtdose.dcm")
    with pytest.raises(DataError, match=r"multi-frame DICOM \(15 frames\)") as e:
        decode.read_dicom(p)
    assert e.value.fix and "frame" in e.value.fix


def test_a_non_image_dicom_is_refused() -> None:
    with pytest.raises(DataError, match="no image"):
        decode.dicom_header(bundled("rtplan.dcm"))


def test_a_truncated_jpeg_is_refused_even_after_weasyprint_switched_pil_to_lenient(tmp_path: Path) -> None:
    # WeasyPrint sets PIL's ImageFile.LOAD_TRUNCATED_IMAGES = True at import; a process (or a test session) that
    # rendered a PDF before decoding must still refuse a cut-off image rather than pad it with grey.
    from PIL import ImageFile

    from reportgen.data import decode

    good = tmp_path / "x.jpeg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(good, quality=90)
    cut = tmp_path / "cut.jpeg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(OSError, match="truncated"):
            decode.read_image(cut)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the process's own setting is given back
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old
