"""Stores written by the real runner for tests (tiny, real PneumoniaMNIST images).

Report and check tests read stores the real runner wrote, built once per pytest session (``real_store`` in
conftest.py) and copied per test; hand-made stores appear only in malformed-store tests.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import tomllib
from tinyexp import DEMO_NPZ, ROOT, tiny_experiment  # noqa: F401  (DEMO_NPZ: re-exported for the tests)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


REPORT = {"title": "Transfer learning for pneumonia detection", "course": "Deep Learning Lab",
          "author": "Test Student", "student_id": "112000123", "date": "2026-11-25", "language": "both",
          "notes": {"discussion": "The **scratch** baseline needs more epochs. <b>not bold</b>"}}


def _table(value: str | dict) -> dict:
    """Keys given as a dict or as TOML lines (``'color = "rgb"'``)."""
    return tomllib.loads(value) if isinstance(value, str) else dict(value)


def run_toml(toml: Path) -> None:
    """``reportgen run`` through the CLI (no progress bar, no checkpoints); fails the test on a non-zero exit."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    assert result.exit_code == 0, result.output


def section_builder(run_dir: Path, lang: str, *sections):
    """A report Builder for a real store with only ``sections`` built (each a ``sections.<module>.<fn>``)."""
    from reportgen.describe.persist import ensure_description
    from reportgen.report.builder import Builder
    from reportgen.store import load_run

    run = load_run(run_dir)
    b = Builder(run, ensure_description(run), lang)
    for build in sections:
        build(b)
    return b


def build_store(root: Path, *, name: str = "real", strategies: str | list[str] = ("finetune", "frozen", "scratch"),
                seeds: str | list[int] = (0, 1), size: int = 32, n_train: int = 160, epochs: int = 2, extra: str = "",
                dataset_extra: str | dict = "", **over) -> Path:
    """Train a tiny matrix with the real runner and return its run folder (``over``: see ``tinyexp``)."""
    toml = tiny_experiment(root, file=f"{name}.toml", name=name, strategies=strategies, seeds=seeds, report=REPORT,
                           dataset={"name": "pneumoniamnist", "max_train_samples": n_train, **_table(dataset_extra)},
                           backbone={"input_size": size, "reason": "small and pretrained offline"},
                           train={"epochs": epochs}, extra=extra, **over)
    run_toml(toml)
    return root / "runs" / name


SHARED_DATA = ROOT.parent / "shared" / "data"
KERMANY_TAR = SHARED_DATA / "kermany_chest_xray_224_test.tar"
KERMANY_CLASSES = ("normal", "bacteria", "virus")


def kermany_csv_lists(root: Path, *, test_fraction: float = 0.3, per_class: int | None = None) -> dict[str, Path]:
    """The real Kermany test JPEGs as a three-class CSV dataset (normal / bacterial / viral pneumonia).

    The file names carry the pneumonia type (``person1_bacteria_1.jpeg``), so the labels are the dataset's own.
    Returns ``{"train": csv, "test": csv, "images": folder}``; the split is a fixed stratified one.
    """
    import csv
    import tarfile
    import zlib

    images = root / "images"
    if not images.is_dir():
        images.mkdir(parents=True)
        with tarfile.open(KERMANY_TAR) as tar:
            for m in tar.getmembers():
                if m.isfile() and m.name.endswith(".jpeg"):
                    m.name = Path(m.name).name
                    tar.extract(m, images, filter="data")
    rows: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
    by_class: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for p in sorted(images.iterdir()):
        label = 2 if "_virus_" in p.name else 1 if "_bacteria_" in p.name else 0
        by_class[label].append(p.stem)
    for label, stems in by_class.items():
        # A stable pseudo-random order (crc32 of the file name), not the OS listing order.
        stems = sorted(stems, key=lambda s: zlib.crc32(s.encode()))[:per_class]
        n_test = round(len(stems) * test_fraction)
        rows["test"] += [(s, label) for s in stems[:n_test]]
        rows["train"] += [(s, label) for s in stems[n_test:]]
    out = {"images": images}
    for split, items in rows.items():
        path = root / f"{split}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["image", "label"])
            w.writerows(sorted(items))
        out[split] = path
    return out


def build_multiclass_store(root: Path, *, name: str = "multi", strategies: str | list[str] = ("warmup", "frozen", "scratch"),
                           size: int = 32, epochs: int = 3, per_class: int = 60, extra: str = "") -> Path:
    """A three-class store from the real Kermany JPEGs: warm-up, class-weighted loss, declared ``ordinal``.

    ``task = "ordinal"`` exercises the ordinal path (quadratic weighted kappa); the three Kermany classes are
    not truly ordered, which is acceptable for a fixture that checks the report shows what was computed.
    """
    lists = kermany_csv_lists(root / "data", per_class=per_class)
    kermany3 = {"name": "kermany3", "kind": "csv", "train_csv": str(lists["train"]), "test_csv": str(lists["test"]),
                "image_root": str(lists["images"]), "path_column": "image", "label_column": "label",
                "image_suffix": ".jpeg", "classes": ["normal", "bacteria", "virus"], "task": "ordinal",
                "val_fraction": 0.2, "min_val_size": 10}
    toml = tiny_experiment(root, file=f"{name}.toml", name=name, strategies=strategies, seeds=[0], report=REPORT,
                           datasets=[kermany3], backbone={"input_size": size}, extra=extra,
                           train={"epochs": epochs, "scheduler": "cosine", "selection_metric": "val_macro_f1",
                                  "class_weighted_loss": True, "warmup_frozen_epochs": 1})
    run_toml(toml)
    return root / "runs" / name
