"""``kind = "medmnist"`` as the experiment file declares it: the published sets, their file names, the check.

The file layout is the ``medmnist`` package's (medmnist 3.x, ``medmnist/dataset.py``): ``{name}.npz`` for
28 px and ``{name}_{size}.npz`` for 64, 128 and 224 px in one root folder. Loading and fetching the file is
``data/medmnist.py``'s job; this module holds the pure facts the parser needs, so ``config`` never imports
``data`` (``data`` imports ``config``, one way).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from ..errors import ConfigError

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
