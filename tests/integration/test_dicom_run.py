"""A CSV dataset of DICOM files (pydicom's bundled MR/CT images, compressed variants and a MONOCHROME1 copy,
with patient IDs) trains one epoch with the real runner and renders; the report states the intensity policy,
what it did, and the patient counts the store holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from tests.conftest import write_toml

pydicom = pytest.importorskip("pydicom")
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
COMPRESSED = ("MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm")


def make_dicom_csv(root: Path, n: int = 10) -> dict[str, Path]:
    """``n`` MR (class "mr") and ``n`` CT (class "ct") files, two per patient; 3 of each class go to test."""
    for name in ("MR_small.dcm", "CT_small.dcm", *COMPRESSED):
        if not (TEST_FILES / name).is_file():
            pytest.skip(f"{name} is not bundled with this pydicom")
    img = root / "dcm"
    img.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = {"train": [], "test": []}
    for label, base in (("mr", "MR_small.dcm"), ("ct", "CT_small.dcm")):
        for i in range(n):
            f = f"{label}{i}.dcm"
            if label == "mr" and i < len(COMPRESSED):
                shutil.copy(TEST_FILES / COMPRESSED[i], img / f)  # JPEG-LS, JPEG 2000 and RLE as they ship
            else:
                ds = pydicom.dcmread(TEST_FILES / base)
                a = ds.pixel_array
                ds.PixelData = (a + rng.integers(-40, 40, a.shape)).astype(a.dtype).tobytes()
                if label == "mr" and i == n - 1:
                    ds.PhotometricInterpretation = "MONOCHROME1"
                ds.save_as(img / f)
            rows["test" if i >= n - 4 else "train"].append(f"{f},{label},{label}-p{i // 2}")
    out = {"images": img}
    for split, r in rows.items():
        out[split] = root / f"{split}.csv"
        out[split].write_text("image,label,patient\n" + "\n".join(r) + "\n", encoding="utf-8")
    return out


@pytest.mark.slow  # ~35 s on 2 shared cores: a real run and a bilingual render
def test_dicom_csv_trains_one_epoch_and_renders(tmp_path: Path) -> None:
    lists = make_dicom_csv(tmp_path / "data")
    toml = write_toml(tmp_path / "dicom.toml", f"""
        [experiment]
        name = "dicom"
        output_dir = "{tmp_path / 'runs'}"
        strategies = ["scratch"]
        seeds = [0]

        [report]
        title = "DICOM"
        language = "both"

        [[datasets]]
        name = "mrct"
        kind = "csv"
        train_csv = "{lists['train']}"
        test_csv = "{lists['test']}"
        image_root = "{lists['images']}"
        group_column = "patient"
        classes = ["mr", "ct"]
        val_fraction = 0.34
        min_val_size = 2

        [[backbones]]
        name = "smallcnn"
        weights = "none"
        input_size = 32

        [train]
        batch_size = 4
        epochs = 1
        scheduler = "none"
        """)
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "dicom"
    facts = json.loads((run / "datasets" / "mrct.json").read_text(encoding="utf-8"))
    census = facts["intensity"]["census"]
    assert facts["intensity"]["policy"] == "auto"
    assert census["source"] == {"dicom": 20}
    # MR files carry a window (600/1600): 10 windowed by the file, one of them MONOCHROME1; CT has none: min-max.
    assert census["mapping"] == {"file_window": 9, "file_window+inverted": 1, "minmax": 10}
    g = facts["groups"]
    assert g["overlap"] == {"train–val": 0, "train–test": 0, "val–test": 0} and g["in_several"] == 0
    assert facts["val_split"]["grouped"]["by"] == "column"

    result = CliRunner().invoke(cli, ["render", str(run)])
    assert result.exit_code == 0, result.output
    en = next(run.glob("report*.en.html"), run / "report.html").read_text(encoding="utf-8")
    assert "Intensity policy auto" in en
    assert "stored as DICOM 20; intensity mapping: min–max per image 10, window stored in the file 10." in en
    assert "MONOCHROME1 images inverted: 1." in en
    per = g["per_split"]
    assert f"Groups per split: train {per['train']}, validation {per['val']}, test {per['test']}." in en
    assert "Groups with images in more than one split: 0." in en
    assert f"{facts['val_split']['grouped']['groups_val']} of {facts['val_split']['grouped']['groups_total']} groups" in en
    zh_files = [p for p in run.glob("report*.html") if "zh" in p.name]
    if zh_files:
        zh = zh_files[0].read_text(encoding="utf-8")
        assert "強度策略 auto" in zh and "反轉的 MONOCHROME1 影像：1 張。" in zh


def test_multi_frame_dicom_in_a_folder_is_exit_2_before_training(tmp_path: Path) -> None:
    if not (TEST_FILES / "rtdose.dcm").is_file():
        pytest.skip("rtdose.dcm is not bundled with this pydicom")
    lists = make_dicom_csv(tmp_path / "data", n=6)
    shutil.copy(TEST_FILES / "rtdose.dcm", lists["images"] / "mr0.dcm")  # a 15-frame file among the MR rows
    toml = write_toml(tmp_path / "mf.toml", f"""
        [experiment]
        output_dir = "{tmp_path / 'runs'}"
        [[datasets]]
        name = "mf"
        kind = "csv"
        train_csv = "{lists['train']}"
        test_csv = "{lists['test']}"
        image_root = "{lists['images']}"
        min_val_size = 2
        [[backbones]]
        name = "smallcnn"
        weights = "none"
        """)
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == 2, result.output
    assert "multi-frame DICOM (15 frames) is not supported" in result.output and "mr0.dcm" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("result.json"))
