"""Images a grader can see: sample images per class per split, and the training augmentation preview.

The runner calls :func:`write_samples` once per dataset when a run starts (next to
``datasets/<name>.json``) and :func:`write_augment_preview` at the start of every cell whose
``augment`` is not ``none``. Both write small PNG files plus one typed JSON index
(:class:`reportgen.store.schema.SampleIndex`, :class:`reportgen.store.schema.AugmentPreview`); the report only
reads those files, so render never needs torch.

The PNGs hold the decoded pixels the model is fed (the decode cache), upscaled by an integer factor
with nearest-neighbour when tiny (28 px MedMNIST) so they stay readable in print and
``png[::scale, ::scale]`` is exactly the decoded image.
"""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .. import store
from ..config.augment import Augment
from ..store import safepath
from ..store.schema import AugmentPreview, PreviewImage, SampleImage, SampleIndex

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
PER_CLASS = 4
MIN_SIDE = 96  # px: below this an image is upscaled (nearest) so a 28 px X-ray is legible in a grid
PREVIEW_IMAGES = 4
PREVIEW_DRAWS = 4
SAMPLES_DIR = "samples"
PREVIEW_DIR = "augment_preview"
METHOD = "evenly spaced over each class's images in split order (positions (j + 0.5)·n/k)"


def spread(indices: np.ndarray, k: int) -> np.ndarray:
    """``k`` items of ``indices`` evenly spread over it (all of them when there are ``k`` or fewer).

    Deterministic and independent of any seed: the same store always shows the same images, and
    they come from across the split instead of its first files (often one patient or one folder).
    """
    n = len(indices)
    if n <= k:
        return np.asarray(indices)
    return np.asarray(indices)[[int((j + 0.5) * n / k) for j in range(k)]]


def upscale_factor(size: int, min_side: int = MIN_SIDE) -> int:
    return max(1, math.ceil(min_side / size))


def png_bytes(chw: np.ndarray, scale: int) -> bytes:
    """uint8 ``(C, S, S)`` → PNG (grey for one channel), each pixel repeated ``scale``× (nearest)."""
    a = np.asarray(chw, dtype=np.uint8)
    if scale > 1:
        a = a.repeat(scale, axis=1).repeat(scale, axis=2)
    img = Image.fromarray(np.ascontiguousarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _write_png(root: Path, folder: Path, name: str, chw: np.ndarray, scale: int) -> None:
    path = safepath.check_inside(root, folder / name)  # never write through a link in the store
    store.atomic_write_bytes(path, png_bytes(chw, scale))


def _clear_pngs(root: Path, folder: Path, keep: set[str]) -> None:
    """Remove PNGs a previous write left that the new index no longer lists (fewer classes, images)."""
    if not folder.is_dir():
        return
    safepath.check_inside(root, folder)
    for p in folder.glob("*.png"):
        if p.name not in keep and not p.is_symlink():
            p.unlink(missing_ok=True)


def write_samples(*, run_dir: Path, name: str, classes: Sequence[str], color: str, decoded: dict[str, Any],
                  sample_ids: dict[str, list[str]], per_class: int = PER_CLASS) -> SampleIndex:
    """Write ``datasets/<name>/samples/<split>-<class>-<k>.png`` and ``datasets/<name>/samples.json``.

    Args:
        decoded: split → object with ``images`` (uint8 ``(N, C, S, S)``) and ``labels``, the decode cache.
        sample_ids: split → every sample's id in that split (as in predictions_*.csv).
    """
    folder = run_dir / "datasets" / name / SAMPLES_DIR
    size = int(next(iter(decoded.values())).images.shape[-1])
    scale = upscale_factor(size)
    items: list[SampleImage] = []
    for split in SPLITS:
        if split not in decoded:
            continue
        labels = np.asarray(decoded[split].labels)
        for c in range(len(classes)):
            for k, i in enumerate(spread(np.flatnonzero(labels == c), per_class)):
                file = f"{split}-{c}-{k}.png"
                _write_png(run_dir, folder, file, decoded[split].images[int(i)], scale)
                items.append(SampleImage(split=split, index=int(i), sample_id=sample_ids[split][int(i)], label=c,
                                         class_name=str(classes[c]), file=file))
    _clear_pngs(run_dir, folder, {s.file for s in items})
    index = SampleIndex(dataset=name, classes=list(classes), input_size=size, scale=scale, color=color,
                        per_class=per_class, method=METHOD, samples=items)
    store.write_record(safepath.check_inside(run_dir, run_dir / "datasets" / name / "samples.json"), index)
    log.info("dataset %s: %d sample images written", name, len(items))
    return index


def write_dataset_samples(run_dir: Path, name: str, ds: Any, *, per_class: int = PER_CLASS) -> SampleIndex | None:
    """:func:`write_samples` for a :class:`reportgen.data.Dataset`, at the largest size already decoded
    (the most detail; no extra decoding). None when nothing of it was decoded in this run."""
    if not ds.decoded_sizes:
        return None
    decoded = ds.decoded(max(ds.decoded_sizes))
    return write_samples(run_dir=run_dir, name=name, classes=ds.classes, color=ds.color, decoded=decoded,
                         sample_ids={s: ds.sample_ids(s) for s in decoded}, per_class=per_class)


# --------------------------------------------------------------------------- augmentation preview
def pipeline_text(augment: Any) -> str:
    """The ``augment`` setting as one line of text: a preset name as it is, op lists as compact JSON."""
    if isinstance(augment, Augment):
        augment = augment.to_json()
    if isinstance(augment, str):
        return augment
    return json.dumps(augment, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)


def needs_preview(augment: Any) -> bool:
    return augment not in (None, "none", "", [], (), {})


def preview_indices(labels: np.ndarray, n_classes: int, n: int = PREVIEW_IMAGES) -> list[int]:
    """``n`` training images, taken round-robin over the classes (each class's images evenly spread)."""
    per_class = [list(spread(np.flatnonzero(labels == c), n)) for c in range(n_classes)]
    out: list[int] = []
    for j in range(n):
        for pool in per_class:
            if j < len(pool) and len(out) < n:
                out.append(int(pool[j]))
    return out


def augment_draws(images_u8: np.ndarray, augment: Any, *, seed: int, draws: int) -> list[np.ndarray]:
    """``draws`` random applications of the training augmentation to uint8 ``(B, C, S, S)`` images.

    Exactly the training path's arithmetic (uint8 → float /255 → ``augment_batch``), with a CPU
    generator seeded by ``seed``: the same seed gives the same images. Returns uint8 arrays.
    """
    import torch

    from .batches import augment_batch

    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).float().div_(255.0)
    out = []
    for _ in range(draws):
        y = augment_batch(x.clone(), augment, generator=gen)
        out.append(y.clamp(0, 1).mul(255).round().to(torch.uint8).numpy())
    return out


def write_augment_preview(cdir: Path, *, cell_id: str, dataset: str, augment: Any, train: Any,
                          classes: Sequence[str], sample_ids: list[str], seed: int,
                          draws: int = PREVIEW_DRAWS) -> AugmentPreview | None:
    """Write ``augment_preview/*.png`` and ``augment_preview.json`` into a cell folder (None: no augmentation).

    Args:
        train: the decoded training split (``images`` uint8 ``(N, C, S, S)``, ``labels``).
    """
    if not needs_preview(augment):
        return None
    labels = np.asarray(train.labels)
    idx = preview_indices(labels, len(classes))
    before = np.stack([np.asarray(train.images[i]) for i in idx])
    after = augment_draws(before, augment, seed=seed, draws=draws)
    scale = upscale_factor(int(before.shape[-1]))
    folder = cdir / PREVIEW_DIR
    items = []
    for j, i in enumerate(idx):
        _write_png(cdir, folder, f"{j}-before.png", before[j], scale)
        names = []
        for d in range(draws):
            names.append(f"{j}-after-{d}.png")
            _write_png(cdir, folder, names[-1], after[d][j], scale)
        items.append(PreviewImage(index=i, sample_id=sample_ids[i], label=int(labels[i]),
                                  class_name=str(classes[int(labels[i])]), before=f"{j}-before.png", after=names))
    record = AugmentPreview(cell_id=cell_id, dataset=dataset, pipeline=pipeline_text(augment),
                            input_size=int(before.shape[-1]), scale=scale, seed=seed, draws=draws, images=items)
    store.write_record(cdir / AugmentPreview.FILE, record)
    return record
