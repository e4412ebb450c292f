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
from pathlib import Path
from typing import Any

from ..config import DatasetSpec
from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("~/.medmnist")  # the package's own default root
SIZES = (28, 64, 128, 224)

# The 2D single-label sets: name → (the package's class, class names in label order), from medmnist 3.0.2's
# INFO table. ChestMNIST (multi-label) and the 3D sets do not fit a single-label 2D classifier.
DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pathmnist": ("PathMNIST", ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                                "normal colon mucosa", "cancer-associated stroma",
                                "colorectal adenocarcinoma epithelium")),
    "dermamnist": ("DermaMNIST", ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                                  "benign keratosis-like lesions", "dermatofibroma", "melanoma",
                                  "melanocytic nevi", "vascular lesions")),
    "octmnist": ("OCTMNIST", ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal")),
    "pneumoniamnist": ("PneumoniaMNIST", ("normal", "pneumonia")),
    "retinamnist": ("RetinaMNIST", ("0", "1", "2", "3", "4")),
    "breastmnist": ("BreastMNIST", ("malignant", "normal, benign")),
    "bloodmnist": ("BloodMNIST", ("basophil", "eosinophil", "erythroblast", "immature granulocytes",
                                  "lymphocyte", "monocyte", "neutrophil", "platelet")),
    "tissuemnist": ("TissueMNIST", ("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
                                    "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes",
                                    "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb")),
    "organamnist": ("OrganAMNIST", ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
                                    "liver", "lung-left", "lung-right", "pancreas", "spleen")),
    "organcmnist": ("OrganCMNIST", ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
                                    "liver", "lung-left", "lung-right", "pancreas", "spleen")),
    "organsmnist": ("OrganSMNIST", ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
                                    "liver", "lung-left", "lung-right", "pancreas", "spleen")),
}
_REFUSED = {"chestmnist": "ChestMNIST is multi-label (14 findings per image); reportgen trains single-label "
                          "classifiers"}


def file_name(name: str, size: int) -> str:
    """The package's file name: ``{name}.npz`` at 28 px, ``{name}_{size}.npz`` otherwise."""
    return f"{name}.npz" if size == 28 else f"{name}_{size}.npz"


def check_spec(d: dict[str, Any], *, file: Path, key: str) -> None:
    """Validate a parsed ``[[datasets]]`` table of kind medmnist and fill its defaults (size, root, path, classes)."""
    name = str(d["name"]).lower()  # "PneumoniaMNIST" names the same set; files and records use the package's spelling
    if name not in DATASETS:
        import difflib

        why = _REFUSED.get(name) or ("a 3D MedMNIST set; reportgen trains 2D classifiers" if name.endswith("3d")
                                     else None)
        close = difflib.get_close_matches(name, list(DATASETS), n=1)
        raise ConfigError(f'"{d["name"]}" is not a MedMNIST 2D single-label dataset' + (f" ({why})" if why else ""),
                          file=file, key=f"{key}.name", expected="one of " + ", ".join(DATASETS),
                          fix=f'did you mean "{close[0]}"?' if close else 'name the MedMNIST set, e.g. "pneumoniamnist"')
    if d["path"] is not None:
        raise ConfigError('kind = "medmnist" takes root (the folder of the .npz files), not path', file=file,
                          key=f"{key}.path", fix=f"replace path with root = \"{Path(d['path']).parent}\"")
    d["size"] = d["size"] or 28
    d["root"] = d["root"] or DEFAULT_ROOT.expanduser()
    d["path"] = Path(d["root"]) / file_name(name, d["size"])
    if d["classes"] is None:
        d["classes"] = list(DATASETS[name][1])
    elif len(d["classes"]) != len(DATASETS[name][1]):
        raise ConfigError(f"{name} has {len(DATASETS[name][1])} classes, `classes` lists {len(d['classes'])}",
                          file=file, key=f"{key}.classes", expected=f"{len(DATASETS[name][1])} names in label order",
                          fix="remove classes to use MedMNIST's own names")


def flag(spec: DatasetSpec) -> str:
    """The package's name of the set (lower case), whatever capitals the TOML used."""
    return spec.name.lower()


def load_medmnist(spec: DatasetSpec) -> Any:
    """The npz loader on the dataset's file, after fetching it if it is missing; checks the image size."""
    from .sources import _load_npz

    assert spec.path is not None and spec.size is not None
    if not spec.path.is_file():
        _download(spec)
    ds = _load_npz(spec)
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
