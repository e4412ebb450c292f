"""Patient groups (reportgen/data/groups.py): grouped, stratified, seeded validation; overlap counted and flagged.

On the real Kermany file names (``person12_bacteria_3.jpeg``, ``IM-0115-0001.jpeg``, ``NORMAL2-IM-0381-0001.jpeg``)
the patient is computed here independently of the pattern the dataset declares.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reportgen.config import load_experiment
from reportgen.data import open_dataset
from reportgen.describe.checks import dataset_findings_from_facts
from reportgen.errors import ConfigError, DataError
from reportgen.store.schema import DatasetFacts
from tests.conftest import write_toml

KERMANY_PATTERN = r"^((?:NORMAL2-)?IM-\d+|person\d+)[-_]"


def patient(name: str) -> str:
    """The patient in a Kermany file name, without regular expressions."""
    if name.startswith("person"):
        return name.split("_")[0]
    parts = name.split("-")
    return "-".join(parts[: parts.index("IM") + 2])


@pytest.fixture(scope="module")
def kermany_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Kermany test JPEGs as a folder dataset, train/test split *by image* (so patients straddle it)."""
    from tests.realstore import KERMANY_TAR

    if not KERMANY_TAR.is_file():
        pytest.skip(f"real Kermany JPEGs not found at {KERMANY_TAR}")
    root = tmp_path_factory.mktemp("kermany")
    with tarfile.open(KERMANY_TAR) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(".jpeg"):
                cls = Path(m.name).parent.name
                split = "test" if zlib.crc32(Path(m.name).name.encode()) % 4 == 0 else "train"
                m.name = f"{split}/{cls}/{Path(m.name).name}"
                tar.extract(m, root, filter="data")
    return root


def open_kermany(tmp_path: Path, root: Path, extra: str = "", seed: int = 0):
    toml = write_toml(tmp_path / f"k{seed}.toml", f"""
        [[datasets]]
        name = "kermany"
        kind = "folder"
        path = "{root}"
        val_fraction = 0.2
        min_val_size = 10
        split_seed = {seed}
        {extra}
        [[backbones]]
        name = "resnet18"
        """)
    return open_dataset(load_experiment(toml).datasets[0])


def patients(ds, split: str) -> set[str]:
    return {patient(Path(f).name) for f in ds.source.splits[split].files}


def test_grouped_carving_keeps_every_patient_on_one_side(tmp_path: Path, kermany_split: Path) -> None:
    ds = open_kermany(tmp_path, kermany_split, f"group_pattern = '{KERMANY_PATTERN}'")
    train, val, test = (patients(ds, s) for s in ("train", "val", "test"))
    assert not train & val  # grouped: no patient in both train and validation
    g = ds.groups_record
    assert g["per_split"] == {"train": len(train), "val": len(val), "test": len(test)}
    assert g["overlap"] == {"train–val": 0, "train–test": len(train & test), "val–test": len(val & test)}
    assert g["in_several"] == len((train | val) & test) > 0  # the by-image train/test split shares patients
    grouped = ds.split_record["val_split"]["grouped"]
    assert grouped["by"] == "pattern" and grouped["groups_val"] == len(val)
    assert grouped["groups_total"] == len(train | val)
    # Stratified too: each class's share of validation is within 8 points of its share of the pool.
    pool = np.concatenate([ds.source.splits["train"].labels, ds.source.splits["val"].labels])
    assert abs(ds.source.splits["val"].labels.mean() - pool.mean()) < 0.08
    # The finding: high, with the counts the record holds.
    found = [f for f in dataset_findings_from_facts(DatasetFacts(**ds.facts())) if f.id == "group_overlap"]
    assert len(found) == 1 and found[0].severity == "high"
    assert found[0].evidence["count"] == g["in_several"]
    assert f"train–test {len(train & test)}" in found[0].evidence["pairs"]
    from reportgen.report.wording import describe

    for lang in ("en", "zh-TW"):  # the finding reads in both languages with the counts it holds
        words = describe(found[0], lang)
        assert str(g["in_several"]) in words["detail"] and KERMANY_PATTERN in words["detail"]


def test_carving_by_image_would_share_patients_and_the_seed_decides(tmp_path: Path, kermany_split: Path) -> None:
    plain = open_kermany(tmp_path, kermany_split)
    assert patients(plain, "train") & patients(plain, "val")  # what grouping prevents
    assert plain.groups_record is None and plain.split_record["val_split"]["grouped"] is None
    a = open_kermany(tmp_path, kermany_split, f"group_pattern = '{KERMANY_PATTERN}'", seed=0)
    b = open_kermany(tmp_path, kermany_split, f"group_pattern = '{KERMANY_PATTERN}'", seed=0)
    c = open_kermany(tmp_path, kermany_split, f"group_pattern = '{KERMANY_PATTERN}'", seed=1)
    assert a.sample_ids("val") == b.sample_ids("val") != c.sample_ids("val")


def test_a_file_the_pattern_misses_is_an_error(tmp_path: Path, kermany_split: Path) -> None:
    with pytest.raises(DataError, match=r"does not match \d+ of \d+ .*images, e\.g\. (NORMAL2-)?IM-"):
        open_kermany(tmp_path, kermany_split, r"group_pattern = 'person(\d+)_'")


def _csv_dataset(tmp_path: Path, *, column: str = "patient") -> Path:
    rng = np.random.default_rng(0)
    img = tmp_path / "img"
    img.mkdir()
    rows = {"train": [], "test": []}
    for i in range(60):
        pid, label = f"p{i // 3}", (i // 3) % 2  # 20 patients, 3 images each, one class per patient
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(img / f"{i}.png")
        rows["test" if i // 3 >= 16 else "train"].append(f"{i}.png,{label},{pid}")
    rows["test"].append("0.png,0,p0")  # patient p0 also in the test list
    for s, r in rows.items():
        (tmp_path / f"{s}.csv").write_text(f"image,label,{column}\n" + "\n".join(r) + "\n", encoding="utf-8")
    return write_toml(tmp_path / "c.toml", """
        [[datasets]]
        name = "c"
        kind = "csv"
        train_csv = "train.csv"
        test_csv = "test.csv"
        image_root = "img"
        group_column = "patient"
        val_fraction = 0.25
        min_val_size = 5
        [[backbones]]
        name = "resnet18"
        """)


def test_csv_group_column(tmp_path: Path) -> None:
    ds = open_dataset(load_experiment(_csv_dataset(tmp_path)).datasets[0])
    pid = {f"{i}.png": f"p{i // 3}" for i in range(60)}
    groups = {s: {pid[Path(f).name] for f in ds.source.splits[s].files} for s in ("train", "val", "test")}
    assert not groups["train"] & groups["val"]
    assert ds.groups_record["by"] == "column" and ds.groups_record["rule"] == "patient"
    assert ds.groups_record["overlap"]["train–test"] + ds.groups_record["overlap"]["val–test"] == 1
    assert ds.groups_record["examples"] == ["p0"]


def test_csv_group_column_missing_is_an_error(tmp_path: Path) -> None:
    toml = _csv_dataset(tmp_path, column="subject")
    with pytest.raises(DataError, match='group column "patient" not found'):
        open_dataset(load_experiment(toml).datasets[0])


@pytest.mark.parametrize("extra, match", [
    ('group_column = "pid"', "group_column applies to kind = \"csv\" only"),
    ("group_pattern = '('", "valid regular expression"),
    ("size = 64", 'size applies to kind = "medmnist" only'),
])
def test_config_errors(tmp_path: Path, extra: str, match: str) -> None:
    toml = write_toml(tmp_path / "e.toml", f"""
        [[datasets]]
        name = "f"
        kind = "folder"
        path = "x"
        {extra}
        [[backbones]]
        name = "resnet18"
        """)
    with pytest.raises(ConfigError, match=match):
        load_experiment(toml)
