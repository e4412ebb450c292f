"""The shipped lab TOMLs (experiments/hw4.toml, retinopathy.toml, cxr4.toml) on tiny real data.

Everything a lab declares is kept — report tasks, candidates, strategies, class weights, warm-up, the augment
pipeline — except what cannot run here: the data paths point at the real Kermany JPEGs (as an image folder or
as CSV lists), the classes follow that data, inputs are 64 px, two epochs. torchvision's ``DEFAULT`` weights
cannot be downloaded here, so the session puts stand-in state dicts (seeded random init, not ImageNet) where
torch.hub looks first; the real loading path runs, the numbers mean nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import tomli_w
import tomllib
from realstore import KERMANY_TAR, ROOT, kermany_csv_lists

LABS = ("hw4", "retinopathy", "cxr4")
SIZE = 64  # densenet121 and convnext_tiny need >= 32 px; 64 px keeps Grad-CAM maps > 1 px on ResNet-50


def kermany_folder(root: Path, names: tuple[str, ...], *, per_class: int) -> Path:
    """An image-folder dataset ``root/{train,test}/<class>/`` from the Kermany JPEGs, class = ``names[label]``."""
    import shutil

    lists = kermany_csv_lists(root / "src", per_class=per_class)
    for split in ("train", "test"):
        for line in lists[split].read_text(encoding="utf-8").splitlines()[1:]:
            stem, label = line.rsplit(",", 1)
            dest = root / "folder" / split / names[int(label)]
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lists["images"] / f"{stem}.jpeg", dest / f"{stem}.jpeg")
    return root / "folder"


def tiny_data(root: Path, lab: str) -> dict[str, Any]:
    """The dataset keys that replace a lab's data: real JPEGs, a handful per class."""
    if lab == "hw4":  # NORMAL vs PNEUMONIA, image folder (bacterial and viral pneumonia merged)
        folder = kermany_folder(root, ("NORMAL", "PNEUMONIA", "PNEUMONIA"), per_class=16)
        return {"path": str(folder), "classes": ["NORMAL", "PNEUMONIA"], "min_val_size": 8}
    if lab == "cxr4":  # 4 classes in the lab; the Kermany files give 3 (no COVID-19 images here)
        folder = kermany_folder(root, ("Normal", "Bacteria", "Virus"), per_class=16)
        return {"path": str(folder), "classes": ["Normal", "Bacteria", "Virus"], "min_val_size": 8}
    if lab == "retinopathy":  # CSV lists with integer labels, declared ordinal in the lab
        lists = kermany_csv_lists(root / "csv", per_class=16)
        return {"train_csv": str(lists["train"]), "test_csv": str(lists["test"]), "image_root": str(lists["images"]),
                "path_column": "image", "label_column": "label", "image_suffix": ".jpeg",
                "classes": ["normal", "bacteria", "virus"], "min_val_size": 8}
    raise KeyError(lab)


def _shrink_augment(value: Any, original: int) -> Any:
    """Scale an op list's pixel sizes by SIZE / original; the last resize or crop is exactly SIZE (the pipeline
    must end at the backbone's input size, which validate checks)."""
    if not isinstance(value, list):
        return value
    out = [dict(op) for op in value]
    sized = [op for op in out if "size" in op]
    for op in sized:
        op["size"] = max(1, round(op["size"] * SIZE / original))
    if sized:
        sized[-1]["size"] = SIZE
    return out


def tiny_lab_toml(lab: str, root: Path) -> Path:
    """A copy of experiments/<lab>.toml that runs in seconds on tiny real data; everything else unchanged."""
    doc = tomllib.loads((ROOT / "experiments" / f"{lab}.toml").read_text(encoding="utf-8"))
    doc.setdefault("experiment", {})["output_dir"] = str(root / "runs")
    for ds in doc["datasets"]:
        for key in ("path", "train_csv", "val_csv", "test_csv", "image_root", "max_train_samples"):
            ds.pop(key, None)
        ds.update(tiny_data(root / "data", lab))
    original = doc["backbones"][0].get("input_size", 224)
    for bb in doc["backbones"]:
        bb["input_size"] = SIZE
    train = doc.setdefault("train", {})
    train.update({"epochs": 2, "batch_size": 16, "amp": "auto"})
    if "warmup_frozen_epochs" in train:
        train["warmup_frozen_epochs"] = 1
    train["augment"] = _shrink_augment(train.get("augment", "none"), original)
    for group in doc.get("overrides", {}).values():
        for table in group.values():
            table.pop("epochs", None)
            if "batch_size" in table:
                table["batch_size"] = min(table["batch_size"], 16)
            if "augment" in table:
                table["augment"] = _shrink_augment(table["augment"], original)
    # The lab's answer/notes files go beside the test TOML, at the same relative paths: a TOML may pull
    # files into a report only from its own folder (named_files.py).
    rels = [t["answer_file"] for t in doc.get("report", {}).get("tasks", []) if "answer_file" in t]
    rels += [doc["report"]["notes_file"]] if "notes_file" in doc.get("report", {}) else []
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "experiments" / rel, root / rel)
    out = root / f"{lab}.toml"
    out.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return out


def stand_in_weights(torch_home: Path, labs: tuple[str, ...] = LABS) -> None:
    """Seeded random state dicts for every torchvision ``DEFAULT`` backbone of the labs, in torch.hub's cache."""
    import torch
    from torchvision.models import get_model, get_model_weights

    names = set()
    for lab in labs:
        doc = tomllib.loads((ROOT / "experiments" / f"{lab}.toml").read_text(encoding="utf-8"))
        names |= {b["name"] for b in doc["backbones"] if b.get("weights", "DEFAULT") == "DEFAULT"}
    for name in sorted(names):
        # torch.hub's own rule: $TORCH_HOME/hub/checkpoints/<file name of the weights URL>.
        url = get_model_weights(name).DEFAULT.url
        target = torch_home / "hub" / "checkpoints" / Path(urlparse(url).path).name
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(get_model(name, weights=None).state_dict(), target)


__all__ = ["KERMANY_TAR", "LABS", "stand_in_weights", "tiny_lab_toml"]
