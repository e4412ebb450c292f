"""The cell runner: experiment → results store, resumable.

Order of work: validate everything (config, backbones, weights, data) → decode every dataset at
every input size it is needed at (a corrupt image surfaces here, before any training) → write
run.json → train each unfinished cell and write its folder, ``result.json`` last. A finished cell
is never retrained; an unfinished one (killed mid-way) resumes from the checkpoint of its last
finished epoch (``checkpoint.py``). Each cell is trained under its own lock (``locks.py``), so any
number of processes — inline, the local scheduler's workers, Slurm array tasks — can fill one store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import platform
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, metrics, status, store
from ..config import Experiment
from ..data import Dataset
from ..data.batches import batch_indices
from ..data.dedup import find_cross_split_duplicates
from ..matrix import Cell
from ..models import stats as arch_stats_mod
from ..models.backbones import BuiltModel, WeightsChoice, build_model
from ..models.strategies import bn_state, max_drift, set_stage
from ..preflight import Preflight, preflight
from .checkpoint import CellCheckpoint
from .locks import try_lock
from .loop import Forward, LoopConfig, Split, amp_dtype, fit, predict

log = logging.getLogger(__name__)
Event = Callable[[str, dict[str, Any]], None]


def pick_device(requested: str | None = None) -> torch.device:
    if requested and requested != "auto":
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware, so every number in the report can be traced to what produced it."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                                  check=True).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None

    return {
        "reportgen": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": __import__("torchvision").__version__, "numpy": np.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(), "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain")) if git("rev-parse", "HEAD") else None,
    }


@contextlib.contextmanager
def store_lock(run_dir: Path) -> Iterator[None]:
    """Held only while run-level files are written: workers never hold it while training."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass
class RunSummary:
    run_dir: Path
    trained: list[str]
    skipped_finished: list[str]
    skipped_locked: list[str] = field(default_factory=list)  # trained by another process right now
    failed: dict[str, str] = field(default_factory=dict)  # cell id -> error message


def prepare(exp: Experiment, *, only: list[str] | None = None, progress: bool = False) -> tuple[Preflight, list[Cell]]:
    """Everything before compute, once: preflight, decode every dataset at every size, run.json."""
    plan = preflight(exp)  # raises before anything is written
    cells = [c for c in plan.cells if not only or any(s in c.id for s in only)]
    # Decode every (dataset, input size) first: bad images fail here, not after hours of training.
    for cell in cells:
        plan.datasets[cell.dataset.name].decoded(cell.backbone.input_size, progress=progress)
    with store_lock(exp.run_dir):
        _write_run_files(exp, plan)
    return plan, cells


def attempt_cell(plan: Preflight, cell: Cell, *, run_dir: Path, device: torch.device, env: dict,
                 progress: bool = False, save_checkpoint: bool = True) -> tuple[str, dict | None]:
    """Train one cell if nobody else is: ``("finished" | "locked" | "trained", result)``.

    A failure is recorded in the cell's ``failed.json`` (for ``reportgen status``) and re-raised.
    """
    cdir = run_dir / "cells" / cell.id
    if store.is_finished(cdir):
        return "finished", None
    lock = try_lock(run_dir, cell.id)
    if lock is None:
        return "locked", None
    with lock:
        if store.is_finished(cdir):  # finished between our check and the lock
            return "finished", None
        status.clear_failure(cdir)
        try:
            result = run_cell(cell, plan.datasets[cell.dataset.name], plan.choice_for(cell), cdir=cdir,
                              device=device, env=env, progress=progress, save_checkpoint=save_checkpoint)
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                status.record_failure(cdir, exc)
            raise
    return "trained", result


def run_experiment(exp: Experiment, *, device: str | None = None, progress: bool = False,
                   on_event: Event | None = None, only: list[str] | None = None,
                   save_checkpoints: bool = True) -> RunSummary:
    """Train every unfinished cell of ``exp`` into ``exp.run_dir``, one after another in this process."""
    emit = on_event or (lambda kind, data: None)
    plan, cells = prepare(exp, only=only, progress=progress)
    dev = pick_device(device)
    env = environment(dev)
    summary = RunSummary(run_dir=exp.run_dir, trained=[], skipped_finished=[])
    for i, cell in enumerate(cells, start=1):
        info = {"index": i, "total": len(cells), "cell_id": cell.id}
        if store.is_finished(exp.run_dir / "cells" / cell.id):
            summary.skipped_finished.append(cell.id)
            emit("cell_skipped", info)
            continue
        emit("cell_start", info)
        outcome, result = attempt_cell(plan, cell, run_dir=exp.run_dir, device=dev, env=env, progress=progress,
                                       save_checkpoint=save_checkpoints)
        if outcome == "trained":
            summary.trained.append(cell.id)
            emit("cell_done", {**info, "result": result})
        elif outcome == "locked":
            summary.skipped_locked.append(cell.id)
            emit("cell_locked", info)
        else:
            summary.skipped_finished.append(cell.id)
            emit("cell_skipped", info)
    return summary


def _write_run_files(exp: Experiment, plan: Preflight) -> None:
    run_dir = exp.run_dir
    store.write_json(run_dir / "run.json", {
        "schema": store.SCHEMA, "name": exp.name, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "source": str(exp.source), "experiment": exp.to_dict(), "cells": [c.id for c in plan.cells],
        "skipped": [s.__dict__ for s in plan.skipped]})
    store.atomic_write_text(run_dir / "experiment.toml", exp.raw_text)
    for name, ds in plan.datasets.items():
        facts = ds.facts()
        facts["duplicates"] = _duplicates(ds)
        store.write_json(run_dir / "datasets" / f"{name}.json", facts)


def _duplicates(ds: Dataset) -> dict:
    """Exact and near-duplicate images across splits (on the smallest decoded size: pHash resizes anyway)."""
    size = min(ds.decoded_sizes, default=64)
    decoded = ds.decoded(size)
    return find_cross_split_duplicates({s: np.asarray(d.images)[:, 0] for s, d in decoded.items()})


# --------------------------------------------------------------------------- one cell
def _features(model: BuiltModel, split: Split, *, device: torch.device, batch_size: int) -> np.ndarray | None:
    """The head's inputs for every image (backbone run once, eval mode); None if the head is not last."""
    head = model.model.get_submodule(model.head_path)
    feats: list[torch.Tensor] = []
    outs: list[torch.Tensor] = []

    def capture(module: torch.nn.Module, inp: tuple, out: torch.Tensor) -> None:  # must return None
        feats.append(inp[0].float().cpu())
        outs.append(out.float().cpu())

    hook = head.register_forward_hook(capture)
    fwd = Forward(module=model.model, norm=model.normalization, channels_last=False)
    model.model.eval()
    try:
        with torch.inference_mode():
            for j, idx in enumerate(batch_indices(len(split.labels), batch_size, shuffle=False)):
                y = model.model(fwd.inputs(split, idx, device=device, augment="none", generator=None))
                # Caching is exact only if the model's output *is* the head's output (true for
                # fc / classifier[-1] / heads.head; not for SqueezeNet's conv head + pooling).
                if j == 0 and not torch.allclose(y.float().cpu(), outs[0], atol=1e-5):
                    return None
    finally:
        hook.remove()
    return torch.cat(feats).numpy()


def run_cell(cell: Cell, ds: Dataset, choice: WeightsChoice, *, cdir: Path, device: torch.device, env: dict, progress: bool = False,
             save_checkpoint: bool = True) -> dict:
    t0 = time.perf_counter()
    ckpt = CellCheckpoint(cdir, cell_id=cell.id)
    resume = ckpt.load()
    if resume is None and (cdir / "epochs.csv").exists():  # partial files of a run with no usable checkpoint
        shutil.rmtree(cdir)
    elif resume is not None:
        log.info("cell %s: resuming after epoch %d", cell.id, resume["epoch"])
    cfg = cell.train
    k = len(ds.classes)
    decoded = ds.decoded(cell.backbone.input_size)
    splits = {s: Split(images=d.images, labels=d.labels) for s, d in decoded.items()}
    store.write_json(cdir / "cell.json", {"id": cell.id, **cell.resolved(), "num_classes": k,
                                          "classes": ds.classes, "task": ds.task,
                                          "backbone_label": cell.backbone.label or cell.backbone.name})
    store.write_json(cdir / "env.json", env)
    store.write_json(cdir / "data.json", {**ds.facts(), "input_size": cell.backbone.input_size,
                                          "cache_keys": {s: d.key for s, d in decoded.items()},
                                          "augment": cfg["augment"]})

    if cfg["deterministic"]:
        torch.use_deterministic_algorithms(True, warn_only=True)
    # cuDNN autotuning picks the fastest kernels for fixed input shapes (ours are): off only when asked
    # for bit-reproducibility.
    torch.backends.cudnn.benchmark = device.type == "cuda" and not cfg["deterministic"]
    torch.manual_seed(cell.seed)
    np.random.seed(cell.seed)
    outputs = 1 if cfg["loss"] == "bce" else k
    built = build_model(cell.backbone.name, choice, num_outputs=outputs, input_size=cell.backbone.input_size)
    model = built.model
    set_stage(model, built.head_path, frozen=cell.strategy in ("frozen", "warmup"))
    arch = arch_stats_mod.arch_stats(model, input_size=cell.backbone.input_size,
                                     weights=choice.enum if choice.kind == "torchvision" else None)
    arch.update({"head": built.head_path, "weights": built.weights_label, "backbone": cell.backbone.name,
                 "normalization": {"mean": list(built.normalization.mean), "std": list(built.normalization.std)}})
    if choice.kind == "offline":
        arch["imagenet"] = arch_stats_mod.weights_meta_for(cell.backbone.name, "offline")
    store.write_json(cdir / "arch.json", arch)

    channels_last = device.type == "cuda" and cfg["channels_last"]
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
        frozen_mode = "per_epoch_augmented" if cfg["augment"] != "none" else "per_epoch"
        if cfg["frozen_feature_cache"] and cfg["augment"] == "none":
            bs = cfg["eval_batch_size"] or max(cfg["batch_size"], 64)
            feats = {s: _features(built, sp, device=device, batch_size=bs) for s, sp in splits.items()}
            if all(f is not None for f in feats.values()):
                loop_splits = {s: Split(images=feats[s], labels=sp.labels) for s, sp in splits.items()}
                fwd = Forward(module=model.get_submodule(built.head_path), norm=None)
                frozen_mode = "cached_features"
    if cfg["compile"] and device.type == "cuda":
        fwd.module = torch.compile(fwd.module)  # type: ignore[assignment]

    def on_epoch(state: dict) -> None:
        # epochs.csv grows live (a row per epoch) for `reportgen status` and anyone watching.
        ckpt.save(state)  # first: a kill between the two leaves a checkpoint at least as new as the log
        store.write_csv(cdir / "epochs.csv", list(state["rows"][0].keys()),
                        [[("" if v is None else v) for v in row.values()] for row in state["rows"]])

    res = fit(fwd, head_path=built.head_path, train=loop_splits["train"], val=loop_splits["val"], cfg=lcfg,
              full_model=model, checkpoint=on_epoch, resume=resume)

    # Score val and test once, with the selected weights, through the full model.
    model.load_state_dict(res.best_state)
    bn_drift = max_drift(bn_before, bn_state(model, built.head_path)) if bn_before else None
    full = Forward(module=model, norm=built.normalization, channels_last=channels_last)
    eval_bs = cfg["eval_batch_size"] or max(res.batch_size_used, 64)
    dtype = amp_dtype(cfg["amp"], device)
    probs = {s: predict(full if frozen_mode != "cached_features" else fwd, loop_splits[s], cfg=lcfg,
                        batch_size=eval_bs, dtype=dtype)[0] for s in ("val", "test")}
    for s in ("val", "test"):
        store.write_predictions(cdir / f"predictions_{s}.csv", splits[s].labels, probs[s])
    store.write_csv(cdir / "epochs.csv", list(res.epochs[0].keys()),
                    [[("" if v is None else v) for v in row.values()] for row in res.epochs])
    threshold = metrics.youden_threshold(splits["val"].labels, probs["val"][:, 1]) if k == 2 else None
    summ = {"val": metrics.summarize(splits["val"].labels, probs["val"], class_names=ds.classes, seed=cell.seed),
            "test": metrics.summarize(splits["test"].labels, probs["test"], class_names=ds.classes,
                                      threshold=threshold, seed=cell.seed)}
    store.write_json(cdir / "metrics.json", summ)
    if save_checkpoint:
        tmp = cdir / ".best.pt.tmp"
        torch.save(res.best_state, tmp)
        os.replace(tmp, cdir / "best.pt")
    best_row = res.epochs[res.best_epoch - 1]
    result = {
        "status": "done", "cell_id": cell.id, "best_epoch": res.best_epoch, "epochs_run": len(res.epochs),
        "stopped_early": res.stopped_early, "selection_metric": cfg["selection_metric"], "best_val": res.best_value,
        "best_train_acc": best_row["train_acc"], "wall_time_s": time.perf_counter() - t0,
        "train_time_s": sum(r["seconds"] for r in res.epochs),
        "peak_mem_mb": max(r["peak_mem_mb"] for r in res.epochs),
        "peak_mem_kind": "cuda_max_allocated" if device.type == "cuda" else "process_max_rss",
        "frozen_bn_drift": bn_drift, "frozen_mode": frozen_mode, "batch_size_used": res.batch_size_used,
        "oom_retries": res.oom_retries, "amp_dtype": res.amp_dtype, "channels_last": channels_last,
        "youden_threshold_val": threshold, "resumed_from_epoch": None if resume is None else resume["epoch"],
        "test": {m: summ["test"][m] for m in ("accuracy", "balanced_accuracy", "macro_f1", "auc")},
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    store.write_json(cdir / store.RESULT_FILE, result)  # last: marks the cell finished
    ckpt.delete()
    return result
