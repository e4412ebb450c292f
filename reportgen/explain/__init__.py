"""Why the models err: the confident-mistakes gallery and Grad-CAM maps of one cell (torch side).

The runner calls :func:`explain_cell` once per cell, after ``metrics.json`` and before ``result.json``;
it writes ``explain.json`` (:class:`~reportgen.store.schema.ExplainRecord`) and PNGs under ``explain/`` in the
cell folder, and ``render`` only reads them. It never fails a cell: a missing ``pytorch_grad_cam`` or
a CAM that cannot be computed is recorded as the reason, and the report prints it.
"""

from __future__ import annotations

import importlib.metadata
import io
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import store
from ..data.batches import Normalization, to_model_input
from ..errors import StoreError
from ..store.schema import CamItem, ExplainRecord, MistakeItem
from .cam import METHOD, MissingPackage, grad_cam
from .selection import confident_mistakes, fixed_sample
from .targets import target_spec

log = logging.getLogger(__name__)

MISTAKES_K = 6  # a gallery row per strategy: enough to see a pattern, few enough to read the labels
CAM_PER_CLASS = 2  # Grad-CAM rows per class: a few images only, so the CAM adds well under a second on CPU
FOLDER = "explain"
INSTALL_HINT = "pytorch_grad_cam is not installed: install reportgen[explain] (pip install grad-cam)"


def _png(array_u8: np.ndarray) -> bytes:
    """uint8 (1|3, H, W) or (H, W) → PNG bytes (grayscale or RGB)."""
    from PIL import Image

    a = np.asarray(array_u8, dtype=np.uint8)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG")
    return buf.getvalue()


def _save_image(cdir: Path, images: np.ndarray, index: int) -> str:
    rel = f"{FOLDER}/test_{index}.png"
    if not (cdir / rel).exists():
        store.atomic_write_bytes(cdir / rel, _png(images[index]))
    return rel


def _package_version() -> str | None:
    try:
        return f"grad-cam {importlib.metadata.version('grad-cam')}"
    except importlib.metadata.PackageNotFoundError:
        return None


def explain_cell(cdir: Path, *, model: nn.Module, backbone: str, normalization: Normalization,
                 test_images: np.ndarray, device: torch.device, num_classes: int) -> ExplainRecord:
    """Write ``explain.json`` and its PNGs for a scored cell (``predictions_test.csv`` must exist)."""
    t0 = time.perf_counter()
    pred = store.read_predictions(cdir / "predictions_test.csv")
    predicted = pred.probs.argmax(axis=1)
    confidence = pred.probs[np.arange(len(predicted)), predicted]
    mistakes = [MistakeItem(sample_id=pred.sample_id[i], index=int(pred.index[i]), true=int(pred.labels[i]),
                            predicted=int(predicted[i]), confidence=float(confidence[i]),
                            image=_save_image(cdir, test_images, int(pred.index[i])))
                for i in confident_mistakes(pred, MISTAKES_K)]
    chosen = fixed_sample(pred.sample_id, pred.labels, per_class=CAM_PER_CLASS, num_classes=num_classes)
    cam: dict = {"cam_status": "skipped", "cam_reason": None, "cam_method": None, "cam_layer": None,
                 "cam_grid": None, "cam_items": []}
    spec = target_spec(backbone)
    if isinstance(spec, str):
        cam["cam_reason"] = spec
    elif chosen:
        try:
            idx = np.asarray([int(pred.index[i]) for i in chosen])
            x = to_model_input(torch.from_numpy(np.ascontiguousarray(test_images[idx])).to(device), normalization)
            targets = [int(predicted[i]) for i in chosen]
            res = grad_cam(model, x, targets, spec)
            items = []
            for j, i in enumerate(chosen):
                rel = f"{FOLDER}/cam_{int(pred.index[i])}.png"
                store.atomic_write_bytes(cdir / rel, _png(np.clip(np.rint(res.maps[j] * 255), 0, 255)))
                items.append(CamItem(sample_id=pred.sample_id[i], index=int(pred.index[i]), true=int(pred.labels[i]),
                                     predicted=int(predicted[i]), confidence=float(confidence[i]),
                                     target=targets[j], image=_save_image(cdir, test_images, int(pred.index[i])),
                                     cam=rel))
            cam.update(cam_status="done", cam_method=METHOD, cam_layer=res.layer, cam_grid=res.grid, cam_items=items)
        except MissingPackage:
            cam["cam_reason"] = INSTALL_HINT
        except StoreError:  # a disk that cannot take the files fails the cell, to be redone whole on rerun
            raise
        except Exception as exc:  # noqa: BLE001 - an explanation must never cost the cell its results
            log.warning("%s: Grad-CAM failed (%s: %s); the cell's results are unaffected", cdir.name,
                        type(exc).__name__, exc)
            cam.update(cam_status="failed", cam_reason=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                       if str(exc) else type(exc).__name__)
    record = ExplainRecord(mistakes_k=MISTAKES_K, n_wrong=int((predicted != pred.labels).sum()), mistakes=mistakes,
                           cam_package=_package_version() if cam["cam_status"] == "done" else None,
                           cam_target="predicted", cam_per_class=CAM_PER_CLASS, seconds=time.perf_counter() - t0,
                           **cam)
    store.write_record(cdir / ExplainRecord.FILE, record)
    log.info("%s: explained %d mistakes and %d Grad-CAM images in %.2f s", cdir.name, len(mistakes),
             len(cam["cam_items"]), record.seconds)
    return record
