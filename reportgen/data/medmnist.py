"""``kind = "medmnist"``: a MedMNIST 2D dataset by name and size, in the ``medmnist`` package's file layout.

The package (medmnist 3.x, ``medmnist/dataset.py``) keeps one file per dataset and size in its root
folder: ``{name}.npz`` for 28 px and ``{name}_{size}.npz`` for 64, 128 and 224 px, each holding
``{train,val,test}_{images,labels}``. reportgen reads that file with the npz loader and keeps the official
train/val/test splits exactly as published (no carving), so results can be set beside the published
tables. A missing file is fetched through the package (``download=True``) when it is installed and the
machine is online; otherwise the error says which file to put where.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import DatasetSpec

# The pure facts and the TOML check live on the config side (config never imports data).
from ..config.medmnist import DATASETS, DEFAULT_ROOT, SIZES, check_spec, file_name  # noqa: F401
from ..errors import DataError

log = logging.getLogger(__name__)


def flag(spec: DatasetSpec) -> str:
    """The package's name of the set (lower case), whatever capitals the TOML used."""
    return spec.name.lower()


def load_medmnist(spec: DatasetSpec, load_npz: Callable[[DatasetSpec], Any]) -> Any:
    """``load_npz`` (the npz loader, passed in by data.sources so neither module imports the other) on the
    dataset's file, after fetching it if it is missing; checks the image size."""
    assert spec.path is not None and spec.size is not None
    if not spec.path.is_file():
        _download(spec)
    ds = load_npz(spec)
    for split, src in ds.splits.items():
        assert src.arrays is not None
        if src.arrays.shape[1:3] != (spec.size, spec.size):
            raise DataError(f"{split}_images are {src.arrays.shape[1]}×{src.arrays.shape[2]} px, not {spec.size}",
                            file=spec.path, key=f"{spec.key}.size",
                            expected=f"the {spec.size} px file {file_name(flag(spec), spec.size)}",
                            fix="set size to the file's size, or put the right file in root")
    return ds


def _download(spec: DatasetSpec) -> None:
    """Fetch the file through the medmnist package; a clear DataError when that is impossible."""
    assert spec.path is not None and spec.size is not None
    fname = file_name(flag(spec), spec.size)
    where = (f"put {fname} in {spec.path.parent} (download it from the MedMNIST Zenodo record linked on the "
             "MedMNIST website), or pip install medmnist on a machine with internet to fetch it automatically")
    try:
        import medmnist
    except ImportError:
        raise DataError(f"MedMNIST file {fname} not found, and the medmnist package is not installed to fetch it",
                        file=spec.path, key=f"{spec.key}.root", fix=where) from None
    try:
        spec.path.parent.mkdir(parents=True, exist_ok=True)
        cls = getattr(medmnist, DATASETS[flag(spec)][0])
        log.info("downloading %s through the medmnist package into %s", fname, spec.path.parent)
        cls(split="test", download=True, root=str(spec.path.parent), size=spec.size)
    except Exception as exc:  # noqa: BLE001 - offline, a proxy, a changed package: one clear message
        raise DataError(f"MedMNIST file {fname} not found, and fetching it through the medmnist package failed "
                        f"({type(exc).__name__}; offline?)", file=spec.path, key=f"{spec.key}.root",
                        fix=where) from None
    if not spec.path.is_file():
        raise DataError(f"the medmnist package did not write {fname}", file=spec.path, key=f"{spec.key}.root",
                        fix=where)
