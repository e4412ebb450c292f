"""One cell: train it and write its folder, ``result.json`` last.

Before training: cell.json, env.json, arch.json, the layer summary, data.json and the augment preview. Then
the loop (resuming from the checkpoint of the last finished epoch), and the scoring of val and test with the
selected weights through the full model: predictions first, metrics computed from the predictions as stored,
then explanations, best.pt and result.json, which marks the cell finished.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import store
from ..config.matrix import Cell
from ..data import Dataset, pipeline, samples
from ..data.cache import RESIZE_FILTER
from ..describe.consistency import score_cell
from ..explain import explain_cell
from ..models import stats as arch_stats_mod
from ..models import strategies
from ..models.backbones import BuiltModel, WeightsChoice, build_model
from ..models.strategies import bn_state, head_only_paths, max_drift, set_stage
from ..models.summary import write_layer_summary
from ..models.weights_meta import weights_meta_for
from ..store.schema import (
    HEADLINE,
    ArchRecord,
    CellRecord,
    DataRecord,
    EnvRecord,
    EpochRow,
    ResultRecord,
)
from . import bn as bn_mod
from .checkpoint import CellCheckpoint
from .device import torch_flags
from .features import head_inputs
from .loop import Forward, LoopConfig, Split, amp_dtype, fit, predict, to_probs
from .memory import PeakMemory

log = logging.getLogger(__name__)


def run_cell(cell: Cell, ds: Dataset, choice: WeightsChoice, *, cdir: Path, device: torch.device, env: dict,
             progress: bool = False, save_checkpoint: bool = True,
             on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict:
    """Train and score one cell into ``cdir``; torch's global flags are restored afterwards."""
    with torch_flags(deterministic=cell.train.deterministic, device=device):
        return _run_cell(cell, ds, choice, cdir=cdir, device=device, env=env, progress=progress,
                         save_checkpoint=save_checkpoint, on_epoch=on_epoch)


def _run_cell(cell: Cell, ds: Dataset, choice: WeightsChoice, *, cdir: Path, device: torch.device, env: dict,
              progress: bool, save_checkpoint: bool, on_epoch: Callable[[dict[str, Any]], None] | None) -> dict:
    t0 = time.perf_counter()
    meter = PeakMemory(device)  # this cell's peak, not the process's so far (train/memory.py)
    ckpt = CellCheckpoint(cdir, cell_id=cell.id)
    resume = ckpt.load()
    if resume is None and (cdir / "epochs.csv").exists():  # partial files of a run with no usable checkpoint
        shutil.rmtree(cdir)
    elif resume is not None:
        log.info("cell %s: resuming after epoch %d", cell.id, resume["epoch"])
    cfg = cell.train
    k = len(ds.classes)
    decoded = ds.decoded(cell.backbone.input_size, augment=cfg.augment)
    splits = {s: Split(images=d.images, labels=d.labels) for s, d in decoded.items()}
    store.write_record(cdir / "cell.json", CellRecord(
        id=cell.id, **cell.resolved(), num_classes=k, classes=ds.classes, task=ds.task,
        backbone_label=cell.backbone.label or cell.backbone.name))
    store.write_record(cdir / "env.json", EnvRecord(**env))

    torch.manual_seed(cell.seed)
    np.random.seed(cell.seed)
    outputs = 1 if cfg.loss == "bce" else k
    built = build_model(cell.backbone.name, choice, num_outputs=outputs, input_size=cell.backbone.input_size,
                        stem=cell.backbone.stem)
    model = built.model
    # As the first stage trains (arch.json's trainable count is the first stage's; result.json has each stage's).
    set_stage(model, built.head_path, frozen=strategies.stages(cell.strategy)[0].trains == "head")
    arch = arch_stats_mod.arch_stats(model, input_size=cell.backbone.input_size,
                                     weights=choice.enum if choice.kind == "torchvision" else None)
    head = model.get_submodule(built.head_path)
    arch.update({"head": built.head_path, "head_in_features": getattr(head, "in_features", None),
                 "head_out_features": getattr(head, "out_features", None),
                 "weights": built.weights_label, "backbone": cell.backbone.name, "stem": built.stem,
                 "normalization": {"mean": list(built.normalization.mean), "std": list(built.normalization.std)}})
    if choice.kind == "offline":
        arch["imagenet"] = weights_meta_for(cell.backbone.name, "offline")
    store.write_record(cdir / "arch.json", ArchRecord(**arch))
    write_layer_summary(cdir, model, backbone=cell.backbone.name, strategy=cell.strategy,
                        head_path=built.head_path, input_size=cell.backbone.input_size)
    store.write_record(cdir / "data.json", DataRecord(
        **{"duplicates": None, **ds.facts()}, input_size=cell.backbone.input_size,
        cache_keys={s: d.key for s, d in decoded.items()},
        preprocessing=_preprocessing(ds, cell.backbone.input_size, built), augment=cfg.augment.to_json(),
        pipeline=pipeline.record(cfg.augment, cell.backbone.input_size)))
    samples.write_augment_preview(cdir, cell_id=cell.id, dataset=ds.spec.name, augment=cfg.augment,
                                  train=decoded["train"], classes=ds.classes, sample_ids=ds.sample_ids("train"),
                                  seed=cell.seed)  # only when augment is not "none"

    channels_last = device.type == "cuda" and cfg.channels_last
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    bn_before = bn_state(model, built.head_path) if cell.strategy == "frozen" else {}
    lcfg = LoopConfig(strategy=cell.strategy, train=cfg, num_classes=k, device=device, seed=cell.seed,
                      progress=progress, desc=f"{cell.backbone.name}/{cell.strategy}")

    frozen_mode = None
    fwd = Forward(module=model, norm=built.normalization, channels_last=channels_last)
    loop_splits = splits
    if cell.strategy == "frozen":
        augmented = cfg.augment.is_random  # decode-time ops alone leave features cacheable
        frozen_mode = "per_epoch_augmented" if augmented else "per_epoch"
        # Cached features are the backbone's outputs once: exact only if nothing before the head trains
        # (a random small stem does: strategies.head_only_paths).
        if cfg.frozen_feature_cache and not augmented and head_only_paths(model, built.head_path) == [built.head_path]:
            bs = cfg.eval_batch
            dtype = amp_dtype(cfg.amp, device)
            feats = {s: head_inputs(built, sp, device=device, batch_size=bs, dtype=dtype) for s, sp in splits.items()}
            if all(f is not None for f in feats.values()):
                loop_splits = {s: Split(images=feats[s], labels=sp.labels) for s, sp in splits.items()}
                fwd = Forward(module=model.get_submodule(built.head_path), norm=None)
                frozen_mode = "cached_features"
    if cfg.compile:  # honoured on any device: CPU compile is slower to start, but it is what was asked
        fwd.module = torch.compile(fwd.module)  # type: ignore[assignment]

    def checkpoint(state: dict) -> None:
        # epochs.csv grows live (a row per epoch) for `reportgen status` and anyone watching.
        ckpt.save(state)  # first: a kill between the two leaves a checkpoint at least as new as the log
        _write_epochs(cdir, state["rows"])

    res = fit(fwd, head_path=built.head_path, train=loop_splits["train"], val=loop_splits["val"], cfg=lcfg,
              full_model=model, checkpoint=checkpoint, resume=resume, on_epoch=on_epoch, memory=meter)

    # Score val and test once, with the selected weights, through the full model.
    model.load_state_dict(res.best_state)
    bn_drift = max_drift(bn_before, bn_state(model, built.head_path)) if bn_before else None
    full = Forward(module=model, norm=built.normalization, channels_last=channels_last)
    eval_bs = cfg.eval_batch  # the size every per-epoch validation used
    dtype = amp_dtype(cfg.amp, device)
    probs = {s: predict(full if frozen_mode != "cached_features" else fwd, loop_splits[s], cfg=lcfg,
                        batch_size=eval_bs, dtype=dtype)[0] for s in ("val", "test")}
    gap = None
    if bn_mod.near_constant(probs["val"]):
        # One answer for every validation image: are the weights or the BatchNorm statistics to blame?
        gap = bn_mod.mode_gap(model, full, splits["val"], device=device, batch_size=res.batch_size_used,
                              eval_probs=probs["val"], to_probs=lambda z: to_probs(z, bce=cfg.loss == "bce"))
        log.warning("cell %s: near-constant eval predictions on val; train-mode vs eval-mode: %s", cell.id, gap)
    for s in ("val", "test"):
        store.write_predictions(cdir / f"predictions_{s}.csv", splits[s].labels, probs[s], ds.sample_ids(s))
    _write_epochs(cdir, res.epochs)
    # The metrics are computed from the predictions *as stored* (read back), through the same function
    # `reportgen check` uses, so the report's numbers and a recomputation cannot disagree.
    summ = score_cell(store.read_predictions(cdir / "predictions_val.csv"),
                      store.read_predictions(cdir / "predictions_test.csv"), classes=ds.classes, seed=cell.seed)
    store.write_record(cdir / "metrics.json", summ)
    explain_cell(cdir, model=model, backbone=cell.backbone.name, normalization=built.normalization,
                 test_images=splits["test"].images, device=device, num_classes=k)
    threshold = summ.test.binary["at_val_youden"].threshold if summ.test.binary else None
    if save_checkpoint:
        buf = io.BytesIO()  # through the store's one atomic writer, like every other file of the cell
        torch.save(res.best_state, buf)
        store.atomic_write_bytes(cdir / "best.pt", buf.getvalue())
    best_row = res.epochs[res.best_epoch - 1]
    planned = [st.name for st in strategies.stages(cell.strategy)]
    result = {
        "status": "done", "cell_id": cell.id, "best_epoch": res.best_epoch, "epochs_run": len(res.epochs),
        "stopped_early": res.stopped_early, "selection_metric": cfg.selection_metric, "best_val": res.best_value,
        "best_train_acc": best_row["train_acc"], "wall_time_s": time.perf_counter() - t0,
        "train_time_s": sum(r["seconds"] for r in res.epochs),
        "peak_mem_mb": meter.close(), "peak_mem_kind": meter.kind,
        "frozen_bn_drift": bn_drift, "frozen_mode": frozen_mode, "batch_size_used": res.batch_size_used,
        "oom_retries": res.oom_retries, "amp_dtype": res.amp_dtype, "channels_last": channels_last,
        "youden_threshold_val": threshold, "resumed_from_epoch": None if resume is None else resume["epoch"],
        "test": {m: getattr(summ.test, m) for m in HEADLINE}, "compiled": bool(cfg.compile),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "class_weights": res.class_weights, "sampler_weights": res.sampler_weights,
        "stages": res.stages, "stages_planned": planned,
        "stages_complete": [s["name"] for s in res.stages] == planned, "eval_batch_size": eval_bs,
        "mode_gap": gap,
    }
    store.write_record(cdir / store.RESULT_FILE, ResultRecord(**result))  # last: marks the cell finished
    ckpt.delete()
    return result


def _write_epochs(cdir: Path, rows: list[dict]) -> None:
    store.write_csv(cdir / "epochs.csv", list(EpochRow.model_fields),
                    [[("" if v is None else v) for v in EpochRow(**row).model_dump().values()] for row in rows])


def _preprocessing(ds: Dataset, size: int, built: BuiltModel) -> str:
    """The deterministic pipeline every split goes through, as one line a report can print."""
    colour = "RGB" if ds.color == "rgb" else "grayscale, replicated to 3 channels"
    mean = ", ".join(f"{m:.3f}" for m in built.normalization.mean)
    std = ", ".join(f"{x:.3f}" for x in built.normalization.std)
    return f"resize to {size}×{size} px ({RESIZE_FILTER}); {colour}; normalize mean ({mean}), std ({std})"
