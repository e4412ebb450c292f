"""`reportgen init DATA`: look at the data and write a commented starter TOML that validates.

The file is checked with :func:`reportgen.config.load_experiment` before it is kept, and no file is
ever overwritten (``open(..., "x")``). A folder of class folders or a CSV without a split gets
train/test CSV lists next to the TOML (a fixed, stratified split), because the ``folder`` kind reads
train/ and test/ folders.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .machine import Machine, detect
from .survey import Survey, stratified_split, survey
from .template import starter_text


@dataclass
class Written:
    toml: Path
    lists: list[Path]
    survey: Survey
    machine: Machine


def default_name(data: Path) -> str:
    base = data.stem if data.is_file() else data.name
    generic = {"dataset", "data", "images", "test", "train", "all", ""}
    if base.lower() in generic and data.parent.name:  # ".../chest_xray/test" → "chest_xray"
        base = (data.parent.stem if data.parent.name.lower() not in generic else base) or "lab"
    return _safe(base)


def _safe(base: str) -> str:
    """A name the config accepts (it becomes part of folder names)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", base).strip("._-") or "lab"


def init_experiment(data: Path, *, out: Path | None = None, name: str | None = None, epochs: int | None = None,
                    input_size: int | None = None, offline: bool = False) -> Written:
    """Survey ``data``, write the starter TOML (and CSV lists when needed); never overwrite a file."""
    data = Path(os.path.abspath(data))
    dataset_name = default_name(data)
    # The run folder follows the TOML's name (hw4.toml → runs/hw4), as for the shipped experiments.
    name = name or (_safe(Path(out).stem) if out else dataset_name)
    toml = Path(os.path.abspath(out or f"{name}.toml"))
    lists_dir = toml.parent / f"{toml.stem}_lists"
    _never_overwrite(toml, toml)
    found = survey(data)
    lists: dict[str, Path] = {}
    image_root = None
    split_rows: dict[str, list[tuple[str, str]]] = {}
    if found.layout in ("class_folders", "csv"):
        _never_overwrite(lists_dir, toml)
        image_root = Path(os.path.commonpath([os.path.dirname(p) for p, _, _ in found.items]))
        split_rows = {s: [(os.path.relpath(p, image_root), c) for p, c in rows]
                      for s, rows in stratified_split(found.items).items()}
        lists = {s: lists_dir / f"{s}.csv" for s in split_rows}
    machine = detect(offline=offline)
    text = starter_text(found, machine, name=name, dataset_name=dataset_name, toml=toml, lists=lists,
                        image_root=image_root, epochs=epochs, input_size=input_size)
    toml.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        if lists:
            lists_dir.mkdir()
            for split, rows in split_rows.items():
                with open(lists[split], "x", newline="", encoding="utf-8") as fh:
                    w = csv.writer(fh)
                    w.writerow(["image", "label"])
                    w.writerows(rows)
                written.append(lists[split])
        with open(toml, "x", encoding="utf-8") as fh:
            fh.write(text)
        written.append(toml)
        from ..config import load_experiment

        load_experiment(toml)  # the promise: what init writes validates (schema here; data in `validate`)
    except BaseException:
        for p in reversed(written):  # only what this call created
            p.unlink(missing_ok=True)
        if lists and lists_dir.is_dir() and not any(lists_dir.iterdir()):
            lists_dir.rmdir()
        raise
    return Written(toml=toml, lists=list(lists.values()), survey=found, machine=machine)


def _never_overwrite(p: Path, toml: Path) -> None:
    if p.exists():
        what = "file" if p == toml else "CSV-list folder"
        raise ConfigError(f"the {what} already exists; init never overwrites", file=p,
                          fix=f"choose another name with -o (e.g. -o {toml.stem}-2.toml) or move the existing "
                          f"{'file' if p == toml else 'folder'} away")
