"""Every bad input: one clear message, exit code 2, no traceback, and the results store untouched."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from reportgen.cli import cli


def make_folder_dataset(root: Path, *, classes=("NORMAL", "PNEUMONIA"), n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def experiment(tmp_path: Path, dataset: str, *, backbone: str = 'name = "smallcnn"\nweights = "none"') -> Path:
    toml = tmp_path / "bad.toml"
    toml.write_text(f"""
[experiment]
name = "bad"
output_dir = "{tmp_path / 'runs'}"
strategies = ["scratch"]

{dataset}

[[backbones]]
{backbone}
input_size = 32

[train]
epochs = 1
""", encoding="utf-8")
    return toml


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def folder(tmp_path: Path) -> str:
    make_folder_dataset(tmp_path / "xr")
    return f'[[datasets]]\nname = "xr"\nkind = "folder"\npath = "{tmp_path / "xr"}"'


def npz(tmp_path: Path, *, n_labels: int = 10, label_max: int = 1) -> str:
    rng = np.random.default_rng(0)
    arrays = {f"{s}_images": rng.integers(0, 255, (10, 28, 28), dtype=np.uint8) for s in ("train", "val", "test")}
    arrays.update({f"{s}_labels": rng.integers(0, label_max + 1, (10, 1)) for s in ("train", "val", "test")})
    arrays["train_labels"] = rng.integers(0, label_max + 1, (n_labels, 1))
    np.savez(tmp_path / "d.npz", **arrays)
    return f'[[datasets]]\nname = "d"\nkind = "npz"\npath = "{tmp_path / "d.npz"}"\nclasses = ["a", "b"]'


def csv_dataset(tmp_path: Path) -> str:
    make_folder_dataset(tmp_path / "img")
    rows = "image,label\n" + "".join(f"train/NORMAL/{i}.png,{i % 2}\n" for i in range(6)) + "train/NORMAL/0.png,7\n"
    (tmp_path / "train.csv").write_text(rows)
    (tmp_path / "test.csv").write_text("image,label\n" + "".join(f"test/NORMAL/{i}.png,{i % 2}\n" for i in range(6)))
    return (f'[[datasets]]\nname = "c"\nkind = "csv"\ntrain_csv = "{tmp_path / "train.csv"}"\n'
            f'test_csv = "{tmp_path / "test.csv"}"\nimage_root = "{tmp_path / "img"}"\nclasses = ["n", "p"]')


def _malformed(tmp_path: Path) -> Path:
    p = experiment(tmp_path, folder(tmp_path))
    p.write_text(p.read_text() + "\n[train\n")
    return p


def _empty_class(tmp_path: Path) -> Path:
    spec = folder(tmp_path)
    for f in (tmp_path / "xr" / "test" / "PNEUMONIA").iterdir():
        f.unlink()
    return experiment(tmp_path, spec)


def _corrupt_image(tmp_path: Path) -> Path:
    spec = folder(tmp_path)
    (tmp_path / "xr" / "train" / "NORMAL" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    return experiment(tmp_path, spec)


CASES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "malformed TOML": (_malformed, ["bad.toml", "not valid TOML", "line"]),
    "unknown key": (lambda t: experiment(t, folder(t).replace('kind = "folder"', 'kind = "folder"\nroot = "x"')),
                    ["bad.toml", "datasets[0].root", "unknown key"]),
    "unknown backbone": (lambda t: experiment(t, folder(t), backbone='name = "resnet181"'),
                         ["bad.toml", "backbones[0].name", 'unknown backbone "resnet181"', "resnet18"]),
    "missing folder": (lambda t: experiment(t, '[[datasets]]\nname = "xr"\nkind = "folder"\npath = "nowhere"'),
                       ["bad.toml", "datasets[0].path", "not found", "nowhere"]),
    "empty class folder": (_empty_class, ["PNEUMONIA", "no images"]),
    "corrupt image": (_corrupt_image, ["3.png", "cannot decode image"]),
    "label out of range": (lambda t: experiment(t, csv_dataset(t)), ["train.csv", "line 8", "out of range"]),
    "npz length mismatch": (lambda t: experiment(t, npz(t, n_labels=9)),
                            ["d.npz", "train_images", "10 images", "9 labels"]),
    "npz label out of range": (lambda t: experiment(t, npz(t, label_max=3)), ["d.npz", "out of range"]),
    "weights path missing": (lambda t: experiment(t, folder(t), backbone='name = "resnet18"\nweights = "w/none.pth"'),
                             ["backbones[0].weights", "weights file not found", "none.pth"]),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_input_exits_2_with_one_message(tmp_path: Path, case: str, command: str) -> None:
    make, needles = CASES[case]
    toml = make(tmp_path)
    if case == "weights path missing":  # a scratch-only matrix would not need the weights
        toml.write_text(toml.read_text().replace('strategies = ["scratch"]', 'strategies = ["finetune"]'))
    store = tmp_path / "runs" / "bad"
    (store / "cells" / "earlier-cell").mkdir(parents=True)
    (store / "run.json").write_text('{"earlier": true}')
    (store / "cells" / "earlier-cell" / "result.json").write_text('{"status": "done"}')
    before = snapshot(store)

    result = CliRunner().invoke(cli, [command, str(toml), "--no-progress"] if command == "run" else [command, str(toml)])

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    assert snapshot(store) == before
