"""The residue of the adversarial suite: empty splits, control characters in CSV lists, mathtext-like
labels in every figure kind, and files a TOML may pull into a report."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from reportgen.cli import cli

MATH = r"$\nope{x}$"


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.arange(256, dtype=np.uint8).reshape(16, 16))).save(path)
    return path


def _images(root: Path, splits=("train", "val"), classes=("a", "b"), n: int = 4) -> None:
    for split in splits:
        for c in classes:
            for i in range(n):
                _png(root / split / c / f"{i}.png")


def _toml(folder: Path, dataset: str, extra: str = "") -> Path:
    toml = folder / "exp.toml"
    toml.write_text(f"""[experiment]
name = "x"
output_dir = "runs"
strategies = ["scratch"]
{extra}
[[datasets]]
name = "d"
{dataset}
[[backbones]]
name = "smallcnn"
weights = "none"
input_size = 16
[train]
epochs = 1
""", encoding="utf-8")
    return toml


def _validate(toml: Path, *args: str):
    return CliRunner().invoke(cli, ["validate", str(toml), *args])


@pytest.mark.parametrize("classes", ["", 'classes = ["a", "b"]'])
def test_an_empty_test_folder_is_a_clear_error_at_validate(tmp_path: Path, classes: str) -> None:
    _images(tmp_path / "img")
    (tmp_path / "img" / "test" / "a").mkdir(parents=True)
    (tmp_path / "img" / "test" / "b").mkdir(parents=True)
    res = _validate(_toml(tmp_path, f'kind = "folder"\npath = "img"\n{classes}'))
    assert res.exit_code == 2 and res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "test/" in res.output and "no images" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("classes", ["", 'classes = ["a", "b"]'])
def test_an_empty_test_csv_is_a_clear_error_at_validate(tmp_path: Path, classes: str) -> None:
    _images(tmp_path / "img", splits=("train",))
    (tmp_path / "train.csv").write_text("path,label\n" + "".join(f"img/train/{c}/{i}.png,{c}\n" for c in "ab"
                                                                 for i in range(4)))
    (tmp_path / "test.csv").write_text("path,label\n")
    res = _validate(_toml(tmp_path, 'kind = "csv"\npath_column = "path"\ntrain_csv = "train.csv"\n'
                                    f'test_csv = "test.csv"\nimage_root = "."\n{classes}'))
    assert res.exit_code == 2, res.output
    assert "test split is empty" in res.output and "test.csv" in res.output


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x1b"])
def test_a_control_character_in_a_csv_names_its_line(tmp_path: Path, bad: str) -> None:
    _images(tmp_path / "img", splits=("train",))
    rows = [f"img/train/{c}/{i}.png,{c}\n" for c in "ab" for i in range(4)]
    (tmp_path / "train.csv").write_text("path,label\n" + "".join(rows))
    rows[2] = rows[2].replace(".png", ".png" + bad)
    (tmp_path / "test.csv").write_text("path,label\n" + "".join(rows))
    res = _validate(_toml(tmp_path, 'kind = "csv"\npath_column = "path"\ntrain_csv = "train.csv"\n'
                                    'test_csv = "test.csv"\nimage_root = "."'))
    assert res.exit_code == 2, res.output
    assert "test.csv" in res.output and "line 4" in res.output and f"U+{ord(bad):04X}" in res.output


# --------------------------------------------------------------------------- labels that look like mathtext
@pytest.fixture
def mathtext_on():
    old = matplotlib.rcParams["text.parse_math"]
    matplotlib.rcParams["text.parse_math"] = True  # a render worker that never set up the report's fonts
    yield
    matplotlib.rcParams["text.parse_math"] = old


def test_every_figure_prints_a_mathtext_label_literally(tmp_path: Path, mathtext_on) -> None:
    from reportgen.report.figures import draw_explain, draw_images
    from reportgen.store.images import image_ref

    img = image_ref(tmp_path, tmp_path, _png(tmp_path / "x.png").name)
    rows = [{"label": MATH, "panels": [{"image": img, "title": f"{MATH} → $5", "cam": img}]}]
    assert draw_explain.gradcam(rows, [MATH]).startswith(b"\x89PNG")
    assert draw_explain.mistakes(rows, 1).startswith(b"\x89PNG")
    fig = draw_images.image_grid([[img.read()]], row_labels=[MATH], col_labels=[MATH])
    assert draw_images.png_of(fig).startswith(b"\x89PNG")


def test_the_one_escape_is_what_makes_it_work(tmp_path: Path, mathtext_on) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from reportgen.report.figures.draw_images import png_of

    fig = Figure()
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, MATH)
    with pytest.raises(ValueError):  # matplotlib itself fails on such a label
        fig.canvas.draw()
    assert png_of(fig).startswith(b"\x89PNG")  # the one writer every figure kind uses prints it as text


# --------------------------------------------------------------------------- only what the user named
def _task_toml(tmp_path: Path, answer: str) -> Path:
    _images(tmp_path / "img", splits=("train", "val", "test"))
    return _toml(tmp_path, 'kind = "folder"\npath = "img"',
                 extra=f'[report]\n[[report.tasks]]\nid = "A"\nquestion = "q"\nanswer_file = "{answer}"\n')


def test_an_answer_file_outside_the_toml_folder_is_refused_without_the_opt_in(tmp_path: Path) -> None:
    res = _validate(_task_toml(tmp_path, "/etc/hostname"))
    assert res.exit_code == 2, res.output
    assert "/etc/hostname" in res.output and "--allow-outside-files" in res.output
    ok = _validate(_task_toml(tmp_path, "/etc/hostname"), "--allow-outside-files")
    assert ok.exit_code == 0, ok.output
    assert "note: read /etc/hostname" in ok.output  # named in the terminal


def test_a_link_inside_the_folder_to_a_file_outside_is_refused(tmp_path: Path) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-secret.md"
    secret.write_text("secret")
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "a.md").symlink_to(secret)
    res = _validate(_task_toml(tmp_path, "answers/a.md"))
    assert res.exit_code == 2 and str(secret) in res.output, res.output
    (tmp_path / "answers" / "a.md").unlink()
    (tmp_path / "answers" / "a.md").write_text("my answer")
    assert _validate(_task_toml(tmp_path, "answers/a.md")).exit_code == 0


def test_a_notes_file_outside_is_refused(tmp_path: Path) -> None:
    _images(tmp_path / "img", splits=("train", "val", "test"))
    notes = tmp_path.parent / f"{tmp_path.name}-notes.md"
    notes.write_text("## discussion\nhello\n")
    res = _validate(_toml(tmp_path, 'kind = "folder"\npath = "img"', extra=f'[report]\nnotes_file = "{notes}"\n'))
    assert res.exit_code == 2 and "notes file" in res.output, res.output
