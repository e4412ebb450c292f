"""What `reportgen init` learns from a data folder, a CSV list or an ``.npz``, without decoding it all.

Counting files is cheap; image sizes and colour come from a small sample per class (PIL reads a
JPEG's size from its header; only RGB-mode samples are decoded, to tell an X-ray saved as RGB from a
colour image). Nothing here imports torch.
"""

from __future__ import annotations

import csv
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".webp"}  # as data/sources.py reads
SPLITS = ("train", "val", "test")
SAMPLE_PER_CLASS = 8
PATH_COLUMNS = ("image", "path", "file", "filename", "file_name", "img", "image_path", "filepath")
LABEL_COLUMNS = ("label", "class", "labels", "target", "y", "diagnosis", "category")


@dataclass
class Survey:
    """One dataset as init found it. ``items`` is set when init must write CSV lists (no split folders)."""

    source: Path
    layout: str  # "split_folders" | "class_folders" | "csv" | "npz"
    classes: list[str]
    counts: dict[str, dict[str, int]]  # split (or "all") -> class -> number of images
    sizes: Counter = field(default_factory=Counter)  # (width, height) of the sampled images
    modes: Counter = field(default_factory=Counter)  # "gray" / "rgb" of the sampled images
    items: list[tuple[str, str, str | None]] = field(default_factory=list)  # (absolute path, class, split)

    @property
    def color(self) -> str:
        return "gray" if self.modes and set(self.modes) == {"gray"} else "rgb" if set(self.modes) == {"rgb"} \
            else "auto"

    @property
    def n_images(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())


def survey(path: Path) -> Survey:
    """Inspect ``path``; a layout init cannot read is a DataError naming the layouts it can."""
    path = Path(os.path.abspath(path))
    if path.is_file() and path.suffix.lower() == ".npz":
        return _npz(path)
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        return _csv(path)
    if path.is_dir():
        return _folder(path)
    raise DataError("not a data folder, CSV list or .npz file" if path.exists() else "not found", file=path,
                    expected="a folder of class folders (optionally inside train/ val/ test/), a CSV with an image "
                    "path and a label column, or a MedMNIST-style .npz",
                    fix="pass the folder that holds the class folders (or train/ and test/)")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _folder(root: Path) -> Survey:
    subs = {d.name.lower(): d for d in _class_dirs(root)}
    if "train" in subs and "test" in subs:
        splits = {s: subs[s] for s in SPLITS if s in subs}
        classes = sorted({c.name for d in splits.values() for c in _class_dirs(d)})
        out = Survey(source=root, layout="split_folders", classes=classes, counts={})
        for split, d in splits.items():
            out.counts[split] = {}
            for c in classes:
                files = _images(d / c) if (d / c).is_dir() else []
                out.counts[split][c] = len(files)
                _sample(out, files)
        if any(d.name != d.name.lower() for d in splits.values()):
            raise DataError("split folders must be named train/ val/ test/ in lower case", file=root,
                            fix="rename them (reportgen reads train/, val/ and test/)")
        return out
    classes = [d for d in _class_dirs(root) if _images(d)]
    if len(classes) < 2:
        raise DataError(f"found {len(classes)} class folder(s) with images", file=root,
                        expected="one folder per class with the images inside (NORMAL/, PNEUMONIA/, ...), "
                        "or train/ and test/ folders that hold them",
                        fix="pass the folder whose sub-folders are the classes")
    out = Survey(source=root, layout="class_folders", classes=[d.name for d in classes], counts={"all": {}})
    for d in classes:
        files = _images(d)
        out.counts["all"][d.name] = len(files)
        out.items += [(str(f), d.name, None) for f in files]
        _sample(out, files)
    return out


def _sample(out: Survey, files: list[Path]) -> None:
    """Size and colour of a few files spread over the list (header reads; RGB samples decoded to check)."""
    from PIL import Image, ImageChops, UnidentifiedImageError

    step = max(1, len(files) // SAMPLE_PER_CLASS)
    for f in files[::step][:SAMPLE_PER_CLASS]:
        try:
            with Image.open(f) as im:
                out.sizes[im.size] += 1
                if im.mode in ("L", "LA", "I", "I;16", "1"):
                    out.modes["gray"] += 1
                    continue
                rgb = im.convert("RGB").resize((64, 64))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            continue  # validate decodes every image and names a broken one; init only proposes settings
        r, g, b = rgb.split()
        same = max(ImageChops.difference(r, g).getextrema()[1], ImageChops.difference(g, b).getextrema()[1]) <= 2
        out.modes["gray" if same else "rgb"] += 1


def _csv(path: Path) -> Survey:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        cols = reader.fieldnames or []
        rows = list(reader)
    lower = {c.lower(): c for c in cols}
    pcol = next((lower[c] for c in PATH_COLUMNS if c in lower), None)
    lcol = next((lower[c] for c in LABEL_COLUMNS if c in lower), None)
    if pcol is None or lcol is None or not rows:
        raise DataError("cannot tell the image column and the label column apart" if rows else "the CSV has no rows",
                        file=path, expected="a header with an image column (" + ", ".join(PATH_COLUMNS[:3])
                        + ") and a label column (" + ", ".join(LABEL_COLUMNS[:3]) + f"); found {cols}",
                        fix="rename the two columns to image and label")
    scol = lower.get("split")
    out = Survey(source=path, layout="csv", classes=sorted({r[lcol].strip() for r in rows if r[lcol]}), counts={})
    by_class: dict[str, list[Path]] = {}
    for r in rows:
        rel, lab = (r.get(pcol) or "").strip(), (r.get(lcol) or "").strip()
        if not rel or not lab:
            continue
        p = Path(rel) if Path(rel).is_absolute() else path.parent / rel
        split = (r.get(scol) or "").strip().lower() if scol else None
        split = split if split in SPLITS else None
        out.items.append((os.path.normpath(p), lab, split))
        out.counts.setdefault(split or "all", Counter())[lab] += 1
        by_class.setdefault(lab, []).append(p)
    for files in by_class.values():
        _sample(out, [f for f in files if f.is_file()][: SAMPLE_PER_CLASS * 4])
    out.counts = {k: dict(v) for k, v in out.counts.items()}
    return out


def _npz(path: Path) -> Survey:
    import numpy as np

    try:
        npz = np.load(path, allow_pickle=False)
        keys = set(npz.files)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read as .npz ({type(exc).__name__})", file=path,
                        fix="re-export it with numpy.savez") from None
    splits = [s for s in SPLITS if f"{s}_images" in keys and f"{s}_labels" in keys]
    if "train" not in splits or "test" not in splits:
        raise DataError("the .npz lacks train_images/train_labels or test_images/test_labels", file=path,
                        expected="MedMNIST-style keys: train_images, train_labels, (val_…,) test_images, test_labels",
                        fix=f"re-export it with those keys (found: {', '.join(sorted(keys))})")
    labels = {s: np.asarray(npz[f"{s}_labels"]).reshape(-1) for s in splits}
    k = int(max(v.max() for v in labels.values())) + 1
    classes = [f"class_{i}" for i in range(k)]
    out = Survey(source=path, layout="npz", classes=classes, counts={})
    for s in splits:
        out.counts[s] = {classes[i]: int((labels[s] == i).sum()) for i in range(k)}
    shape = npz["train_images"].shape  # the header only: np.load reads arrays lazily, this reads one array
    out.sizes[(int(shape[2]), int(shape[1]))] = int(shape[0])
    out.modes["gray" if len(shape) == 3 or shape[-1] == 1 else "rgb"] += 1
    return out


def stratified_split(items: list[tuple[str, str, str | None]], *, test_fraction: float = 0.2
                     ) -> dict[str, list[tuple[str, str]]]:
    """train/test lists: a given split column wins; otherwise a fixed per-class split by file-name hash."""
    out: dict[str, list[tuple[str, str]]] = {"train": [], "val": [], "test": []}
    unsplit: dict[str, list[str]] = {}
    for p, c, s in items:
        if s:
            out[s].append((p, c))
        else:
            unsplit.setdefault(c, []).append(p)
    for c, paths in unsplit.items():
        # A stable pseudo-random order (crc32 of the name): the same lists on every machine and rerun.
        paths = sorted(paths, key=lambda p: (zlib.crc32(os.path.basename(p).encode()), p))
        n_test = max(1, round(len(paths) * test_fraction)) if len(paths) > 1 else 0
        out["test"] += [(p, c) for p in paths[:n_test]]
        out["train"] += [(p, c) for p in paths[n_test:]]
    return {s: sorted(v) for s, v in out.items() if v}
