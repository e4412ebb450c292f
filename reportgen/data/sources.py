"""Dataset kinds → a list of samples per split (no decoding yet).

Three layouts the users have: MedMNIST-style ``.npz`` arrays, image folders
``root/{train,val,test}/{CLASS}/*`` (the Kermany chest X-ray layout), and CSV lists of image
path + label (the retinopathy labs). Everything here is checked before any compute is spent:
a missing folder, an empty class, a label out of range or arrays of mismatched length raise a
:class:`DataError` naming the file.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import DatasetSpec
from ..errors import DataError

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dcm"}  # .dcm: data/decode.py


@dataclass
class SplitSource:
    """One split before decoding: either in-memory arrays (npz) or image files."""

    labels: np.ndarray  # int64, (N,)
    arrays: np.ndarray | None = None  # uint8 (N,H,W) or (N,H,W,C) for npz
    files: list[Path] | None = None
    # Each sample's identity in its source ("train[12]", "test/NORMAL/x.jpeg"), carried through carving and
    # subsampling so stored predictions can name the image they belong to.
    ids: list[str] | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, idx: np.ndarray) -> SplitSource:
        return SplitSource(
            labels=self.labels[idx],
            arrays=None if self.arrays is None else self.arrays[idx],
            files=None if self.files is None else [self.files[i] for i in idx],
            ids=None if self.ids is None else [self.ids[i] for i in idx],
        )


@dataclass
class SourceDataset:
    name: str
    classes: list[str]
    splits: dict[str, SplitSource]  # "train", "test" always; "val" may be missing before carving
    origin: Path  # the npz file / folder root / train CSV, for content hashing and messages
    notes: dict = field(default_factory=dict)


def load_source(spec: DatasetSpec) -> SourceDataset:
    """Read a dataset's layout and labels. Raises DataError for anything unusable."""
    if spec.kind == "medmnist":  # the npz loader on {root}/{name}[_{size}].npz, fetched if missing
        from .medmnist import load_medmnist

        def loader(s: DatasetSpec) -> SourceDataset:
            return load_medmnist(s, _load_npz)
    else:
        loader = {"npz": _load_npz, "folder": _load_folder, "csv": _load_csv}[spec.kind]
    ds = loader(spec)
    for split, src in ds.splits.items():
        src.ids = _sample_ids(split, src, ds.origin)
        if len(src) == 0:
            raise DataError(f"the {split} split is empty", file=ds.origin, key=f"{spec.key}",
                            fix=f"add images to the {split} split")
        bad = (src.labels < 0) | (src.labels >= len(ds.classes))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"label {int(src.labels[i])} of {split} sample {i} is out of range",
                            file=ds.origin, key=f"{split}_labels",
                            expected=f"labels 0..{len(ds.classes) - 1} for classes {ds.classes}",
                            fix="fix the labels, or list every class in the dataset's `classes`")
    return ds


def _sample_ids(split: str, src: SplitSource, origin: Path) -> list[str]:
    if src.files is None:
        return [f"{split}[{i}]" for i in range(len(src))]
    root = origin if origin.is_dir() else origin.parent
    out = []
    for f in src.files:
        try:
            out.append(str(Path(f).relative_to(root)))
        except ValueError:
            out.append(str(f))
    return out


# --------------------------------------------------------------------------- npz
def _load_npz(spec: DatasetSpec) -> SourceDataset:
    path = spec.path
    assert path is not None
    if not path.is_file():
        raise DataError("npz file not found", file=path, key=f"{spec.key}.path",
                        expected="a MedMNIST-style .npz with train_images, train_labels, test_images, ...",
                        fix="correct the path (relative paths are relative to the TOML file)")
    try:
        npz = np.load(path, allow_pickle=False)
        keys = set(npz.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # not an npz at all
        raise DataError(f"cannot read as .npz ({type(exc).__name__}: {exc})", file=path,
                        key=f"{spec.key}.path", fix="re-download or re-export the file") from None
    splits: dict[str, SplitSource] = {}
    for split in SPLITS:
        ik, lk = f"{split}_images", f"{split}_labels"
        if ik not in keys and lk not in keys and split == "val":
            continue
        for k in (ik, lk):
            if k not in keys:
                raise DataError(f'array "{k}" is missing', file=path, key=k,
                                expected="keys " + ", ".join(f"{s}_images/{s}_labels" for s in SPLITS),
                                fix="export the split, or use another dataset kind")
        try:
            images, labels = npz[ik], npz[lk]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # object arrays, a damaged member
            raise DataError(f'cannot read "{ik}"/"{lk}" ({type(exc).__name__}: {exc})', file=path, key=ik,
                            expected="plain numeric arrays (no pickled objects)",
                            fix="re-export the npz with numpy.savez from uint8 images and integer labels") from None
        if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
            raise DataError(f'"{ik}" has shape {images.shape}', file=path, key=ik,
                            expected="(N, H, W) grayscale or (N, H, W, 3) RGB uint8")
        if labels.ndim == 0:
            raise DataError(f'"{lk}" is a single value', file=path, key=lk, expected="one integer label per image")
        labels = labels.reshape(labels.shape[0], -1) if labels.ndim > 1 else labels[:, None]
        labels = _integer_labels(labels, file=path, key=lk)
        if labels.shape[1] != 1:
            raise DataError(f'"{lk}" has {labels.shape[1]} columns (multi-label)', file=path, key=lk,
                            expected="one integer label per image")
        if images.shape[0] != labels.shape[0]:
            raise DataError(f'"{ik}" has {images.shape[0]} images but "{lk}" has {labels.shape[0]} labels',
                            file=path, key=ik, expected="arrays of the same length",
                            fix="re-export the npz so images and labels match")
        if images.dtype != np.uint8:
            raise DataError(f'"{ik}" has dtype {images.dtype}', file=path, key=ik, expected="uint8 pixels 0..255")
        splits[split] = SplitSource(labels=labels[:, 0].astype(np.int64), arrays=images)
    n_classes = max(int(s.labels.max()) for s in splits.values()) + 1
    classes = list(spec.classes) if spec.classes else [f"class_{i}" for i in range(n_classes)]
    return SourceDataset(name=spec.name, classes=classes, splits=splits, origin=path)


def _integer_labels(labels: np.ndarray, *, file: Path, key: str) -> np.ndarray:
    """Labels as int64; a float label that is not a whole number is an error, never truncated to 0."""
    if labels.dtype.kind in "iub":
        return labels.astype(np.int64)
    if labels.dtype.kind != "f":
        raise DataError(f'"{key}" has dtype {labels.dtype}', file=file, key=key,
                        expected="integer class indices 0..K-1", fix="store the labels as integers")
    bad = ~np.isfinite(labels) | (labels != np.round(labels))
    if bad.any():
        i = int(np.flatnonzero(bad.any(axis=1) if bad.ndim > 1 else bad)[0])
        raise DataError(f'"{key}" holds a non-integer label ({labels.reshape(len(labels), -1)[i, 0]!r} '
                        f"at index {i})", file=file, key=key, expected="whole-number class indices 0..K-1",
                        fix="store class indices, not probabilities or soft labels")
    return labels.astype(np.int64)


# --------------------------------------------------------------------------- image folders
def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _load_folder(spec: DatasetSpec) -> SourceDataset:
    root = spec.path
    assert root is not None
    if not root.is_dir():
        raise DataError("image folder not found", file=root, key=f"{spec.key}.path",
                        expected="a folder with train/, val/ (optional) and test/, each holding one folder per class",
                        fix="correct the path (relative paths are relative to the TOML file)")
    found: dict[str, Path] = {}
    for split in SPLITS:
        d = root / split
        if d.is_dir():
            found[split] = d
        elif split != "val":
            raise DataError(f"the {split}/ folder is missing", file=root, key=f"{spec.key}.path",
                            expected=f"{root}/{split}/<CLASS>/<images>",
                            fix=f"create {split}/ or point path at the folder that holds it")
    class_names = sorted({c.name for d in found.values() for c in d.iterdir() if c.is_dir()})
    classes = list(spec.classes) if spec.classes else class_names
    unknown = [c for c in class_names if c not in classes]
    if unknown:
        raise DataError(f"class folder(s) {unknown} are not in `classes`", file=root, key=f"{spec.key}.classes",
                        expected=f"classes listing every folder: {class_names}")
    splits = {}
    for split, d in found.items():
        files: list[Path] = []
        labels: list[int] = []
        for ci, cname in enumerate(classes):
            cdir = d / cname
            if not cdir.is_dir():
                raise DataError(f'class folder "{cname}" is missing from {split}/', file=cdir,
                                key=f"{spec.key}.classes", fix=f"create {cdir} with images, or fix `classes`")
            imgs = _images_in(cdir)
            if not imgs:
                raise DataError(f'class folder "{cname}" in {split}/ has no images', file=cdir,
                                expected="image files (" + ", ".join(sorted(IMAGE_SUFFIXES)) + ")",
                                fix="add images, or remove the empty folder")
            files += imgs
            labels += [ci] * len(imgs)
        splits[split] = SplitSource(labels=np.asarray(labels, dtype=np.int64), files=files)
    return SourceDataset(name=spec.name, classes=classes, splits=splits, origin=root)


# --------------------------------------------------------------------------- CSV lists
def _load_csv(spec: DatasetSpec) -> SourceDataset:
    assert spec.train_csv is not None and spec.test_csv is not None
    tables = {"train": spec.train_csv, "val": spec.val_csv, "test": spec.test_csv}
    rows: dict[str, list[tuple[str, str, int]]] = {}
    for split, path in tables.items():
        if path is None:
            continue
        if not path.is_file():
            raise DataError("CSV file not found", file=path, key=f"{spec.key}.{split}_csv",
                            fix="correct the path (relative paths are relative to the TOML file)")
        rows[split] = _read_csv_rows(path, spec)
        if not rows[split]:
            raise DataError(f"the {split} split is empty (the CSV has no rows)", file=path,
                            key=f"{spec.key}.{split}_csv", fix=f"add rows to the {split} list")
    raw_labels = sorted({lab for rs in rows.values() for _, lab, _ in rs})
    numeric = all(_whole_number(lab) is not None for lab in raw_labels)
    for split, rs in rows.items():
        for _, lab, line in rs:
            if _whole_number(lab) is None and _is_float(lab):
                raise DataError(f'non-integer label "{lab}" on line {line}', file=tables[split],
                                key=spec.label_column, expected="a class index (0, 1, ...) or a class name",
                                fix="write class indices, not probabilities or soft labels")
    if spec.classes:
        classes = list(spec.classes)
    elif numeric:
        classes = [str(i) for i in range(max(int(x) for x in raw_labels) + 1)]
    else:
        classes = raw_labels
    root = spec.image_root or spec.train_csv.parent
    real_root = root.resolve()
    splits = {}
    for split, rs in rows.items():
        files, labels = [], []
        for rel, lab, line in rs:
            whole = _whole_number(lab)
            if numeric and whole is not None:
                y = whole
            elif lab in classes:
                y = classes.index(lab)
            else:
                raise DataError(f'unknown label "{lab}" on line {line}', file=tables[split],
                                key=spec.label_column, expected=f"one of {classes} or an index")
            if not 0 <= y < len(classes):
                raise DataError(f"label {y} on line {line} is out of range", file=tables[split],
                                key=spec.label_column, expected=f"0..{len(classes) - 1} ({len(classes)} classes)",
                                fix="fix the label or list all classes in `classes`")
            p = Path(rel if Path(rel).suffix else rel + spec.image_suffix)
            p = p if p.is_absolute() else root / p
            if not p.resolve().is_relative_to(real_root):
                # A list must not reach outside its image folder ("../../etc/passwd", /home/...):
                # the dataset would silently depend on files nobody declared.
                raise DataError(f"image listed on line {line} is outside image_root: {rel}", file=tables[split],
                                key=spec.path_column, expected=f"a path inside {root}",
                                fix="move the image under image_root (or set image_root to a folder holding all of them)")
            if not p.is_file():
                raise DataError(f"image listed on line {line} not found: {p}", file=tables[split],
                                key=spec.path_column,
                                fix="check image_root / image_suffix, or remove the row")
            files.append(p)
            labels.append(y)
        splits[split] = SplitSource(labels=np.asarray(labels, dtype=np.int64), files=files)
    return SourceDataset(name=spec.name, classes=classes, splits=splits, origin=spec.train_csv)


def _read_csv_rows(path: Path, spec: DatasetSpec) -> list[tuple[str, str, int]]:
    """(path, label, line) per row; a non-UTF-8 file, a missing column or an empty cell is a DataError."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            for col in (spec.path_column, spec.label_column):
                if col not in cols:
                    raise DataError(f'column "{col}" not found', file=path, key=f"{spec.key}.path_column"
                                    if col == spec.path_column else f"{spec.key}.label_column",
                                    expected=f"one of the CSV's columns: {cols}",
                                    fix="set path_column / label_column to the right names")
            out = []
            for line, r in enumerate(reader, start=2):
                rel, lab = r.get(spec.path_column), r.get(spec.label_column)
                for value, col in ((rel, spec.path_column), (lab, spec.label_column)):
                    if value is None or not value.strip():
                        raise DataError(f'line {line} has no "{col}" value', file=path, key=col,
                                        expected=f"every row with an image path and a label ({', '.join(cols)})",
                                        fix="fill in the value or delete the row")
                for value, col in ((rel, spec.path_column), (lab, spec.label_column)):
                    bad = _CONTROL.search(value)
                    if bad:  # a NUL or other control byte: os/PIL would fail later with no row named
                        raise DataError(f'line {line} has a control character (U+{ord(bad.group()):04X}) in its '
                                        f'"{col}" value', file=path, key=col,
                                        expected="printable text (a file path and a class label)",
                                        fix="remove the stray byte from that row (the file may have been damaged)")
                out.append((rel.strip(), lab.strip(), line))
            return out
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path,
                        expected="a UTF-8 encoded CSV file", fix="re-save the CSV as UTF-8") from None
    except csv.Error as exc:
        raise DataError(f"not a readable CSV file ({exc})", file=path, fix="check the file's format") from None


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab (a spreadsheet's separator) is not a problem here


def _is_float(label: str) -> bool:
    try:
        float(label)
    except ValueError:
        return False
    return True


def _whole_number(label: str) -> int | None:
    """``"3"`` or ``"3.0"`` → 3; anything else (``"0.7"``, ``"grade 2"``) → None."""
    try:
        v = float(label)
    except ValueError:
        return None
    return int(v) if np.isfinite(v) and v == int(v) else None


# --------------------------------------------------------------------------- splits
def stratified_indices(labels: np.ndarray, fraction: float, *, seed: int) -> np.ndarray:
    """Indices of a stratified random ``fraction`` of ``labels`` (at least one per class present)."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = max(1, round(fraction * len(idx)))
        picked.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(picked))


def _merged(a: SplitSource, b: SplitSource) -> SplitSource:
    return SplitSource(labels=np.concatenate([a.labels, b.labels]),
                       arrays=None if a.arrays is None else np.concatenate([a.arrays, b.arrays]),
                       files=None if a.files is None else a.files + b.files,
                       ids=None if a.ids is None or b.ids is None else a.ids + b.ids)


def finalize_splits(ds: SourceDataset, spec: DatasetSpec) -> dict:
    """Decide the validation split, subsample train as the spec asks. Returns the record to save.

    A validation set smaller than ``min_val_size`` cannot select a model well (Kermany ships 16 images:
    one image is 6 accuracy points), so it is folded back into train and a stratified, seeded
    ``val_fraction`` of train becomes the validation set — but only when that carved set is larger than
    the official one: an official split is never replaced by a smaller one (BreastMNIST's 78 would
    become 62). A kept official split below ``min_val_size`` is flagged ``small``. The test split is
    never touched.

    Returns:
        ``{"val_split": {"source": "official" | "carved", "official_n", "n", "min_val_size",
        "carved_from", "fraction", "seed", "small", "reason"}, "val_carved": {...} | None,
        "train_subsampled": {...} | None}``.
    """
    record: dict = {"val_carved": None, "train_subsampled": None}
    val = ds.splits.get("val")
    official_n = None if val is None else len(val)
    decision = {"source": "official", "official_n": official_n, "n": official_n, "min_val_size": spec.min_val_size,
                "carved_from": None, "fraction": None, "seed": None, "small": False,
                "reason": f"the official validation split has {official_n} ≥ min_val_size = {spec.min_val_size} "
                          "images"}
    if spec.kind == "medmnist" and val is not None:  # the benchmark's own splits, as published
        decision.update(small=len(val) < spec.min_val_size,
                        reason=f"the official MedMNIST validation split ({official_n} images), used as-is")
    elif val is None or len(val) < spec.min_val_size:
        pool = ds.splits["train"] if val is None else _merged(ds.splits["train"], val)
        vidx, grouped = _carve(pool, spec)
        if val is None or len(vidx) > len(val):
            tidx = np.setdiff1d(np.arange(len(pool)), vidx)
            ds.splits["val"] = pool.subset(vidx)
            ds.splits["train"] = pool.subset(tidx)
            small = len(vidx) < spec.min_val_size
            decision.update(source="carved", n=len(vidx), carved_from="train", fraction=spec.val_fraction,
                            seed=spec.split_seed, small=small,
                            reason=("no official validation split" if val is None else
                                    f"the official validation split ({official_n}) is below min_val_size = "
                                    f"{spec.min_val_size}; a stratified {spec.val_fraction:g} of train + val "
                                    f"gives {len(vidx)}"), grouped=grouped)
            record["val_carved"] = {"from": "train", "fraction": spec.val_fraction, "seed": spec.split_seed,
                                    "original_val_n": official_n or 0, "min_val_size": spec.min_val_size}
        else:
            decision.update(small=True, reason=(
                f"the official validation split ({official_n}) is below min_val_size = {spec.min_val_size}, "
                f"but a carved {spec.val_fraction:g} of train + val would hold only {len(vidx)}: kept the "
                "official one (raise val_fraction to carve a larger one)"))
    record["val_split"] = decision
    if spec.max_train_samples and len(ds.splits["train"]) > spec.max_train_samples:
        train = ds.splits["train"]
        frac = spec.max_train_samples / len(train)
        idx = stratified_indices(train.labels, frac, seed=spec.split_seed + 1)[: spec.max_train_samples]
        record["train_subsampled"] = {"from_n": len(train), "to_n": len(idx), "seed": spec.split_seed + 1}
        ds.splits["train"] = train.subset(idx)
    return record


def _carve(pool: SplitSource, spec: DatasetSpec) -> tuple[np.ndarray, dict | None]:
    """Validation indices: stratified by class, and by group (patient) when the dataset declares groups."""
    from . import groups

    if not groups.declared(spec):
        return stratified_indices(pool.labels, spec.val_fraction, seed=spec.split_seed), None
    g = groups.groups_of(pool.files, groups.labeler(spec), spec, "train")
    return groups.carve(pool.labels, g, spec.val_fraction, seed=spec.split_seed, spec=spec)


def resolve_task(spec: DatasetSpec, n_classes: int) -> str:
    if spec.task != "auto":
        return spec.task
    return "binary" if n_classes == 2 else "multiclass"
