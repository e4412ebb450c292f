"""Datasets: layouts (``sources``), decode-once cache (``cache``), batches and augmentation (``batches``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import DatasetSpec
from ..errors import DataError
from . import decode, groups, pipeline
from .cache import DecodedSplit, decode_split, detect_color
from .sources import SPLITS, SourceDataset, finalize_splits, load_source, resolve_task


@dataclass
class Dataset:
    """A dataset ready to be decoded at any input size (splits final: val carved, train subsampled)."""

    spec: DatasetSpec
    source: SourceDataset
    task: str
    color: str
    split_record: dict
    groups_record: dict | None = None  # groups.overlap_record: patients per split and across splits
    # (input size, train decode ops, val/test decode ops) -> split -> decoded arrays
    _decoded: dict[tuple[int, str, str], dict[str, DecodedSplit]] = field(default_factory=dict, repr=False)

    @property
    def classes(self) -> list[str]:
        return self.source.classes

    @property
    def decoded_sizes(self) -> list[int]:
        """Input sizes already decoded (duplicate detection reuses the smallest instead of decoding again)."""
        # Only plain decodes (no pipeline ops): duplicates are found on the images as they are, and a
        # centre-cropped val/test next to an uncropped train would hide an exact cross-split copy.
        return sorted(k[0] for k in self._decoded if k[1:] == _plain_keys(k[0]))

    def decoded(self, size: int, *, augment: str | list[dict] = "none",
                progress: bool = False) -> dict[str, DecodedSplit]:
        """Every split decoded for a model input of ``size`` px through ``augment``'s deterministic ops.

        val/test end at ``size``; train may be larger (a ``random_crop`` cuts it per batch).
        """
        st = pipeline.stages(augment, size)
        key = (size, st.key("train"), st.key("eval"))
        if key not in self._decoded:
            self._decoded[key] = {
                split: decode_split(self.source.splits[split], size=st.train_size if split == "train" else size,
                                    color=self.color, progress=progress, desc=f"{self.spec.name}/{split} @{size}px",
                                    ops=st.train_decode if split == "train" else st.eval_decode,
                                    intensity=self.spec.intensity)
                for split in SPLITS
            }
        return self._decoded[key]

    def sample_ids(self, split: str) -> list[str]:
        ids = self.source.splits[split].ids
        return ids if ids is not None else [f"{split}[{i}]" for i in range(len(self.source.splits[split]))]

    def facts(self) -> dict:
        """Per-dataset facts for the results store (datasets/<name>.json) and the data section."""
        k = len(self.classes)
        splits = {s: {"n": len(src), "counts": np.bincount(src.labels, minlength=k).tolist()}
                  for s, src in self.source.splits.items()}
        return {"name": self.spec.name, "kind": self.spec.kind, "classes": self.classes, "task": self.task,
                "color": self.color, "splits": splits, "val_split": None, **self.split_record,
                "description": self.spec.description, "credit": self.spec.credit,
                "intensity": self.intensity_record(), "groups": self.groups_record,
                "medmnist": ({"name": self.spec.name.lower(), "size": self.spec.size, "file": self.source.origin.name,
                              "splits": "official"} if self.spec.kind == "medmnist" else None)}

    def intensity_record(self) -> dict:
        """The declared intensity policy and what it did: decode tags counted over every split of one decode
        (the plain decode at the smallest size when there is one; census None before anything is decoded)."""
        policy = self.spec.intensity
        census = None
        keys = sorted(self._decoded, key=lambda k: (k[1:] != _plain_keys(k[0]), k[0]))
        for key in keys:
            per_split = [d.census for d in self._decoded[key].values()]
            if all(c is not None for c in per_split):
                census = {"source": {}, "mapping": {}}
                for c in per_split:
                    for part in ("source", "mapping"):
                        for tag, n in c.get(part, {}).items():
                            census[part][tag] = census[part].get(tag, 0) + int(n)
                break
        return {"policy": decode.policy_name(policy),
                "window": policy["window"] if isinstance(policy, dict) else None, "census": census}


def _plain_keys(size: int) -> tuple[str, str]:
    st = pipeline.stages("none", size)
    return st.key("train"), st.key("eval")


def open_dataset(spec: DatasetSpec) -> Dataset:
    """Read labels and layout, carve val, decide task and colour. Raises DataError."""
    src = load_source(spec)
    record = finalize_splits(src, spec)
    _check_classes_present(src, spec)
    color = spec.color if spec.color != "auto" else detect_color(src.splits["train"])
    return Dataset(spec=spec, source=src, task=resolve_task(spec, len(src.classes)), color=color,
                   split_record=record, groups_record=groups.overlap_record(src.splits, spec))


def _check_classes_present(src: SourceDataset, spec: DatasetSpec) -> None:
    """Every split must hold at least two classes: a one-class split trains nothing, and AUC,
    macro-F1 and the confusion matrix are undefined on it (run would fail or report nonsense)."""
    for split in SPLITS:
        present = np.unique(src.splits[split].labels)
        if len(present) < 2:
            only = src.classes[int(present[0])] if len(present) else "none"
            raise DataError(f"the {split} split holds a single class ({only!r}, {len(src.splits[split])} images)",
                            file=src.origin, key=spec.key, expected=f"images of at least two of {src.classes}",
                            fix=f"add images of the other classes to the {split} split")
