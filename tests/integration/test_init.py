"""`reportgen init DATA`: a starter TOML that validates, from class folders, split folders, a CSV or an .npz."""

from __future__ import annotations

import csv
import shutil
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.config import load_experiment
from tests.conftest import DEMO_NPZ
from tests.realstore import KERMANY_TAR


def kermany_class_folders(root: Path, per_class: int) -> Path:
    """A fresh folder of real Kermany JPEGs in class folders (NORMAL/, PNEUMONIA/), no split folders."""
    out = root / "xrays"
    taken: dict[str, int] = {}
    with tarfile.open(KERMANY_TAR) as tar:
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if not m.isfile() or not m.name.endswith(".jpeg") or len(parts) < 2:
                continue
            cls = parts[-2]
            if taken.get(cls, 0) >= per_class:
                continue
            taken[cls] = taken.get(cls, 0) + 1
            m.name = f"{cls}/{Path(m.name).name}"
            tar.extract(m, out, filter="data")
    return out


def _init(*args: str) -> object:
    return CliRunner().invoke(cli, ["init", *args, "--offline"])


def test_init_class_folders_writes_lists_and_a_toml_that_validates(tmp_path: Path) -> None:
    data = kermany_class_folders(tmp_path, per_class=10)
    out = tmp_path / "hw.toml"
    result = _init(str(data), "-o", str(out), "--epochs", "1", "--input-size", "32")
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert 'classes = ["NORMAL", "PNEUMONIA"]' in text
    assert 'kind = "csv"' in text and "NORMAL 10, PNEUMONIA 10" in text
    assert 'strategies = ["finetune", "frozen", "scratch"]' in text
    assert "224×224 px" in text  # the size of the sampled JPEGs
    exp = load_experiment(out)
    assert [b.weights for b in exp.backbones] == ["offline", "offline"]
    assert exp.train["epochs"] == 1 and {b.input_size for b in exp.backbones} == {32}
    rows = {s: list(csv.DictReader((tmp_path / "hw_lists" / f"{s}.csv").open())) for s in ("train", "test")}
    assert len(rows["train"]) + len(rows["test"]) == 20
    assert {r["label"] for r in rows["test"]} == {"NORMAL", "PNEUMONIA"}  # stratified
    result = CliRunner().invoke(cli, ["validate", str(out)])
    assert result.exit_code == 0, result.output


def test_init_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "mine.toml"
    out.write_text("# my own work\n", encoding="utf-8")
    result = _init(str(DEMO_NPZ), "-o", str(out))
    assert result.exit_code == 2
    assert "never overwrites" in result.output and "-o" in result.output
    assert out.read_text(encoding="utf-8") == "# my own work\n"


def test_init_split_folders_and_npz_and_csv(tmp_path: Path) -> None:
    data = kermany_class_folders(tmp_path, per_class=6)
    split = tmp_path / "split"
    for s, files in (("train", slice(0, 4)), ("test", slice(4, 6))):
        for c in ("NORMAL", "PNEUMONIA"):
            (split / s / c).mkdir(parents=True)
            for f in sorted((data / c).iterdir())[files]:
                shutil.copy(f, split / s / c / f.name)
    result = _init(str(split), "-o", str(tmp_path / "a.toml"))
    assert result.exit_code == 0, result.output
    exp = load_experiment(tmp_path / "a.toml")
    assert exp.datasets[0].kind == "folder" and exp.datasets[0].path == split

    result = _init(str(DEMO_NPZ), "-o", str(tmp_path / "b.toml"))
    assert result.exit_code == 0, result.output
    exp = load_experiment(tmp_path / "b.toml")
    assert exp.datasets[0].kind == "npz" and exp.datasets[0].classes == ("class_0", "class_1")
    assert "28×28 px" in (tmp_path / "b.toml").read_text(encoding="utf-8")

    listing = tmp_path / "list.csv"
    with listing.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "diagnosis"])
        for c in ("NORMAL", "PNEUMONIA"):
            for f in sorted((data / c).iterdir()):
                w.writerow([f"xrays/{c}/{f.name}", c.lower()])
    result = _init(str(listing), "-o", str(tmp_path / "c.toml"))
    assert result.exit_code == 0, result.output
    exp = load_experiment(tmp_path / "c.toml")
    assert exp.datasets[0].kind == "csv" and exp.datasets[0].classes == ("normal", "pneumonia")
    assert CliRunner().invoke(cli, ["validate", str(tmp_path / "c.toml")]).exit_code == 0


def test_init_names_a_layout_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _init(str(tmp_path / "empty"), "-o", str(tmp_path / "x.toml"))
    assert result.exit_code == 2 and "class folder" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.toml").exists()


@pytest.mark.slow
def test_init_validate_run_render_with_no_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's acceptance path: fresh JPEG class folders → init → validate → run → render --pdf."""
    monkeypatch.chdir(tmp_path)
    data = kermany_class_folders(tmp_path, per_class=12)
    assert _init(str(data), "-o", "xr.toml", "--epochs", "1", "--input-size", "32").exit_code == 0
    for args in (["validate", "xr.toml"], ["run", "xr.toml", "--no-progress"], ["render", "runs/xr", "--pdf"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
    assert (tmp_path / "runs" / "xr" / "report.html").is_file()
    assert list((tmp_path / "runs" / "xr").glob("report*.pdf"))
