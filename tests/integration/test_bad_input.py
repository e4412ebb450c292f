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


def _train(line: str, **kw) -> Callable[[Path], Path]:
    """A valid folder experiment with one more line in [train] (the last section)."""
    return lambda t: _append(experiment(t, folder(t), **kw), line)


def _append(toml: Path, text: str) -> Path:
    toml.write_text(toml.read_text(encoding="utf-8") + text + "\n", encoding="utf-8")
    return toml


def _replace(old: str, new: str, dataset: Callable[[Path], str] = folder, **kw) -> Callable[[Path], Path]:
    def make(t: Path) -> Path:
        toml = experiment(t, dataset(t), **kw)
        text = toml.read_text(encoding="utf-8")
        assert old in text, old
        toml.write_text(text.replace(old, new, 1), encoding="utf-8")
        return toml

    return make


def _non_utf8_toml(t: Path) -> Path:
    toml = experiment(t, folder(t))
    toml.write_bytes(toml.read_bytes().replace(b'name = "bad"', b'name = "bad"\n# caf\xe9 (latin-1)'))
    return toml


def _notes_toml(content: bytes | None) -> Callable[[Path], Path]:
    def make(t: Path) -> Path:
        if content is not None:
            (t / "notes.md").write_bytes(content)
        toml = experiment(t, folder(t))
        return _append(toml, f'\n[report]\nnotes_file = "{t / "notes.md"}"')

    return make


def _npz_labels(labels: np.ndarray, *, splits: tuple[str, ...] = ("train",)) -> Callable[[Path], Path]:
    def make(t: Path) -> Path:
        spec = npz(t)
        arrays = dict(np.load(t / "d.npz"))
        for split in splits:
            arrays[f"{split}_labels"] = labels
        np.savez(t / "d.npz", **arrays)
        return experiment(t, spec)

    return make


def _npz_images(t: Path, images: np.ndarray) -> Path:
    spec = npz(t)
    arrays = dict(np.load(t / "d.npz"))
    arrays["train_images"] = images
    np.savez(t / "d.npz", **arrays)
    return experiment(t, spec)


def _csv(train_rows: str, *, test_rows: str | None = None, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(t: Path) -> Path:
        spec = csv_dataset(t)
        (t / "train.csv").write_bytes(train_rows.encode(encoding))
        if test_rows is not None:
            (t / "test.csv").write_bytes(test_rows.encode(encoding))
        return experiment(t, spec)

    return make


_GOOD_ROWS = "".join(f"train/NORMAL/{i}.png,{i % 2}\n" for i in range(6))


def _truncated_jpeg(t: Path) -> Path:
    spec = folder(t)
    target = t / "xr" / "train" / "PNEUMONIA" / "2.jpeg"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(target, quality=95)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])  # the header is intact: only a full decode notices
    return experiment(t, spec)


def _weights_file(write: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(t: Path) -> Path:
        write(t / "w.pth")
        return experiment(t, folder(t), backbone=f'name = "resnet18"\nweights = "{t / "w.pth"}"')

    return make


def _torch_save(obj_factory: Callable[[], object]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import torch

        torch.save(obj_factory(), path)

    return write


def _smallcnn_state() -> dict:
    from reportgen.models.baselines import smallcnn

    return smallcnn(input_size=32).state_dict()


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/reportgen-evil-pickle-ran",))


def _evil(path: Path) -> None:
    import pickle

    path.write_bytes(pickle.dumps({"fc.weight": _Evil()}))


CASES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "malformed TOML": (_malformed, ["bad.toml", "not valid TOML", "line"]),
    "unknown key": (lambda t: experiment(t, folder(t).replace('kind = "folder"', 'kind = "folder"\nroots = "x"')),
                    ["bad.toml", "datasets[0].roots", "unknown key"]),
    "medmnist key on a folder": (lambda t: experiment(t, folder(t).replace('kind = "folder"', 'kind = "folder"\nroot = "x"')),
                                 ["bad.toml", "datasets[0].root", "medmnist", "rename root to path"]),
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
    # --- numbers that parse but mean nothing (class 2 and 4 of issue 10)
    "lr nan": (_train("lr = nan"), ["bad.toml", "train.lr", "not nan or inf"]),
    "lr inf": (_train("lr = inf"), ["bad.toml", "train.lr", "not nan or inf"]),
    "weight_decay -inf": (_train("weight_decay = -inf"), ["train.weight_decay"]),
    "momentum nan": (_train("momentum = nan"), ["train.momentum"]),
    "gamma inf": (_train("gamma = inf"), ["train.gamma"]),
    "label_smoothing 5": (_train("label_smoothing = 5"), ["train.label_smoothing", "[0, 1)"]),
    "label_smoothing 1": (_train("label_smoothing = 1.0"), ["train.label_smoothing", "[0, 1)"]),
    "label_smoothing nan": (_train("label_smoothing = nan"), ["train.label_smoothing"]),
    "epochs huge": (_replace("epochs = 1", "epochs = 100000000"), ["train.epochs", "REPORTGEN_MAX_EPOCHS"]),
    "epochs zero": (_replace("epochs = 1", "epochs = 0"), ["train.epochs", "positive integer"]),
    "batch_size huge": (_train("batch_size = 10000000"), ["train.batch_size", "REPORTGEN_MAX_BATCH_SIZE"]),
    "input_size huge": (_replace("input_size = 32", "input_size = 100000"),
                        ["backbones[0].input_size", "REPORTGEN_MAX_INPUT_SIZE"]),
    "seed negative": (_replace('strategies = ["scratch"]', 'strategies = ["scratch"]\nseeds = [-1]'),
                      ["experiment.seeds", "seeds from 0"]),
    "seed huge": (_replace('strategies = ["scratch"]', 'strategies = ["scratch"]\nseeds = [99999999999999]'),
                  ["experiment.seeds", "seeds from 0"]),
    "seed float": (_replace('strategies = ["scratch"]', 'strategies = ["scratch"]\nseeds = [0.5]'),
                   ["experiment.seeds", "integers"]),
    "split_seed negative": (_replace('kind = "folder"', 'kind = "folder"\nsplit_seed = -3'),
                            ["datasets[0].split_seed"]),
    "val_fraction nan": (_replace('kind = "folder"', 'kind = "folder"\nval_fraction = nan'),
                         ["datasets[0].val_fraction"]),
    "strategies empty": (_replace('strategies = ["scratch"]', "strategies = []"),
                         ["experiment.strategies", "non-empty"]),
    "no strategy applies": (_replace('strategies = ["scratch"]', 'strategies = ["finetune", "frozen"]'),
                            ["experiment.strategies", "matrix is empty", "pretrained weights"]),
    "strategy twice": (_replace('strategies = ["scratch"]', 'strategies = ["scratch", "scratch"]'),
                       ["experiment.strategies", "listed twice"]),
    "override kind not a table": (lambda t: _append(experiment(t, folder(t)), "\n[overrides]\nstrategy = 5"),
                                  ["bad.toml", "overrides.strategy", "table"]),
    "override lr inf": (lambda t: _append(experiment(t, folder(t)), "\n[overrides.strategy.scratch]\nlr = inf"),
                        ["overrides.strategy.scratch.lr"]),
    "section not a table": (lambda t: _append(experiment(t, folder(t)), "\nreport = 5"),
                            ["bad.toml", "report"]),
    "weights not a string": (lambda t: experiment(t, folder(t), backbone='name = "smallcnn"\nweights = 5'),
                             ["backbones[0].weights", "a string"]),
    "language unknown": (lambda t: _append(experiment(t, folder(t)), '\n[report]\nlanguage = "fr"'),
                         ["report.language", "zh-TW"]),
    # --- files that are not UTF-8 (class 5)
    "toml not utf-8": (_non_utf8_toml, ["bad.toml", "not UTF-8", "line"]),
    "notes not utf-8": (_notes_toml(b"## discussion\nd\xe9j\xe0 vu\n"), ["notes.md", "not UTF-8"]),
    "notes missing": (_notes_toml(None), ["report.notes_file", "not found"]),
    "notes unknown section": (_notes_toml(b"## conclusions\ntext\n"), ["notes.md", "conclusions"]),
    "csv not utf-8": (_csv("image,label\n" + _GOOD_ROWS + "train/NORMAL/0.png,caf\u00e9\n", encoding="latin-1"),
                      ["train.csv", "not UTF-8"]),
    # --- labels (class 3 and 4)
    "classes listed twice": (_replace('kind = "folder"', 'kind = "folder"\nclasses = ["NORMAL", "PNEUMONIA", "NORMAL"]'),
                             ["datasets[0].classes", "listed twice", "NORMAL"]),
    "npz float labels": (_npz_labels(np.linspace(0, 0.9, 10)[:, None]), ["d.npz", "train_labels", "non-integer"]),
    "npz nan labels": (_npz_labels(np.array([[0.0], [1.0], [np.nan]] + [[1.0]] * 7)), ["d.npz", "non-integer"]),
    "npz string labels": (_npz_labels(np.array([["a"]] * 10)), ["d.npz", "train_labels", "dtype"]),
    "npz object labels": (_npz_labels(np.array([[0], [1], ["x"]] * 3 + [[1]], dtype=object)),
                          ["d.npz", "train_labels", "pickled"]),
    "npz images 1-d": (lambda t: _npz_images(t, np.zeros(10, dtype=np.uint8)), ["d.npz", "train_images", "shape"]),
    "npz single-class train": (_npz_labels(np.zeros((10, 1), dtype=int), splits=("train", "val")),
                               ["d.npz", "train split", "single class"]),
    "npz single-class test": (_npz_labels(np.ones((10, 1), dtype=int), splits=("test",)),
                              ["d.npz", "test split", "single class"]),
    "csv float label": (_csv("image,label\n" + _GOOD_ROWS + "train/NORMAL/1.png,0.5\n"),
                        ["train.csv", "line 8", "non-integer"]),
    "csv row without label": (_csv("image,label\n" + _GOOD_ROWS + "train/NORMAL/1.png,\n"),
                              ["train.csv", "line 8", "no \"label\" value"]),
    "csv short row": (_csv("image,label\n" + _GOOD_ROWS + "train/NORMAL/1.png\n"),
                      ["train.csv", "line 8", "no \"label\" value"]),
    "csv row without path": (_csv("image,label\n" + _GOOD_ROWS + ",1\n"), ["train.csv", "line 8", "no \"image\""]),
    "csv path escapes image_root": (_csv("image,label\n" + _GOOD_ROWS + "../train.csv,1\n"),
                                    ["train.csv", "line 8", "outside image_root"]),
    "csv absolute path outside": (_csv("image,label\n" + _GOOD_ROWS + "/etc/hostname,1\n"),
                                  ["train.csv", "line 8", "outside image_root"]),
    "csv empty test split": (_csv("image,label\n" + _GOOD_ROWS, test_rows="image,label\n"),
                             ["test.csv", "test split is empty"]),
    "csv missing column": (_csv("file,label\n" + _GOOD_ROWS), ["train.csv", "datasets[0].path_column", "image"]),
    "truncated jpeg": (_truncated_jpeg, ["2.jpeg", "cannot decode image"]),
    # --- weights files (class 2 and 4): text, wrong type, wrong architecture, a pickle that runs code
    "weights text file": (_weights_file(lambda p: p.write_text("these are not weights\n")),
                          ["w.pth", "cannot load state dict"]),
    "weights empty file": (_weights_file(lambda p: p.write_bytes(b"")), ["w.pth", "not a PyTorch weights file"]),
    "weights a list": (_weights_file(_torch_save(lambda: [1, 2, 3])), ["w.pth", "list, not a state dict"]),
    "weights other architecture": (_weights_file(_torch_save(_smallcnn_state)), ["w.pth", "does not fit"]),
    "weights evil pickle": (_weights_file(_evil), ["w.pth", "refuses to unpickle"]),
}
WEIGHTS_CASES = {c for c in CASES if c.startswith("weights ") and c != "weights not a string"}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_input_exits_2_with_one_message(tmp_path: Path, case: str, command: str) -> None:
    make, needles = CASES[case]
    toml = make(tmp_path)
    if case in WEIGHTS_CASES:  # a scratch-only matrix would not need the weights
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
    assert not Path("/tmp/reportgen-evil-pickle-ran").exists()
