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
import io
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

from .. import __version__, store
from ..config import Experiment
from ..config.matrix import Cell
from ..data import Dataset, pipeline, samples
from ..data.batches import batch_indices
from ..data.cache import RESIZE_FILTER
from ..data.dedup import find_cross_split_duplicates
from ..describe.consistency import score_cell
from ..errors import ConfigError, StoreError
from ..explain import explain_cell
from ..models import stats as arch_stats_mod
from ..models import strategies
from ..models.backbones import BuiltModel, WeightsChoice, build_model
from ..models.candidates import candidates_record
from ..models.strategies import bn_state, head_only_paths, max_drift, set_stage
from ..models.summary import write_layer_summary
from ..store import safepath, status
from ..store.locks import try_lock
from ..store.schema import (
    HEADLINE,
    SCHEMA,
    ArchRecord,
    CandidatesRecord,
    CellRecord,
    DataRecord,
    DatasetFacts,
    EnvRecord,
    EpochRow,
    ResultRecord,
    RunRecord,
    SkippedCell,
)
from . import bn as bn_mod
from .checkpoint import CellCheckpoint
from .device import backoff, set_cublas_workspace, torch_flags
from .loop import Forward, LoopConfig, Split, amp_dtype, fit, predict, to_probs
from .memory import PeakMemory
from .preflight import Preflight, preflight

log = logging.getLogger(__name__)
Event = Callable[[str, dict[str, Any]], None]


def pick_device(requested: str | None = None) -> torch.device:
    """The device to train on; a name torch does not know, or a GPU this machine lacks, is a ConfigError."""
    if not requested or requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fix = "use --device auto (a GPU when there is one), cpu, cuda or cuda:N"
    try:
        dev = torch.device(requested)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {requested!r}", key="--device", expected="auto, cpu, cuda or cuda:N",
                          fix=fix) from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(dev.type, False):
        raise ConfigError(f"device {requested!r} is not available on this machine", key="--device",
                          expected="a device this machine has (" + ", ".join(k for k, v in available.items() if v)
                          + ")", fix=fix)
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"there is no {requested} (this machine has {torch.cuda.device_count()} GPU(s))",
                          key="--device", expected=f"cuda:0 … cuda:{torch.cuda.device_count() - 1}", fix=fix)
    return dev


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


STORE_LOCK_TIMEOUT_S = float(os.environ.get("REPORTGEN_STORE_LOCK_TIMEOUT", "60"))


@contextlib.contextmanager
def store_lock(run_dir: Path) -> Iterator[None]:
    """Held only while run-level files are written: workers never hold it while training."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = safepath.open_lock(run_dir / ".lock")  # O_NOFOLLOW: a linked .lock must not truncate its target
    try:
        # Another process writes run.json for well under a second; one that holds the lock far longer is
        # stuck (or an old reportgen holding a whole-run lock): say so instead of waiting forever.
        deadline = time.monotonic() + STORE_LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError("another `reportgen run` has held this results store's lock for "
                                     f"{STORE_LOCK_TIMEOUT_S:.0f} s", file=run_dir / ".lock",
                                     fix="wait for that run to finish (or stop it), then run again") from None
                time.sleep(0.2)
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
    # Everything that can fail before training is checked before anything of the store changes:
    # a failed run must leave an existing store byte for byte as it was.
    plan = preflight(exp)
    cells = [c for c in plan.cells if not only or any(s in c.id for s in only)]
    safepath.check_writable_dir(exp.run_dir, what="results folder", file=exp.source, key="experiment.output_dir")
    safepath.check_store(exp.run_dir)
    store.clean_stale_temp_files(exp.run_dir)  # temp files of a process killed mid-write last time
    # Decode every (dataset, input size) first: bad images fail here, not after hours of training.
    for cell in cells:
        plan.datasets[cell.dataset.name].decoded(cell.backbone.input_size, augment=cell.train.augment,
                                                 progress=progress)
    with store_lock(exp.run_dir):
        _write_run_files(exp, plan)
    return plan, cells


def attempt_cell(plan: Preflight, cell: Cell, *, run_dir: Path, device: torch.device, env: dict,
                 progress: bool = False, save_checkpoint: bool = True,
                 on_epoch: Callable[[dict[str, Any]], None] | None = None) -> tuple[str, dict | None]:
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
                              device=device, env=env, progress=progress, save_checkpoint=save_checkpoint,
                              on_epoch=on_epoch)
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                status.record_failure(cdir, exc)
            raise
    return "trained", result


def run_experiment(exp: Experiment, *, device: str | None = None, progress: bool = False,
                   on_event: Event | None = None, only: list[str] | None = None,
                   save_checkpoints: bool = True,
                   on_epoch: Callable[[str, dict[str, Any]], None] | None = None) -> RunSummary:
    """Train every unfinished cell of ``exp`` into ``exp.run_dir``, one after another in this process;
    ``on_epoch(cell_id, row)`` after each epoch (live exporters)."""
    emit = on_event or (lambda kind, data: None)
    set_cublas_workspace(any_deterministic(exp))  # before pick_device: nothing has touched CUDA yet
    dev = pick_device(device)  # before anything of the store changes
    plan, cells = prepare(exp, only=only, progress=progress)
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
                                       save_checkpoint=save_checkpoints,
                                       on_epoch=(lambda row, cid=cell.id: on_epoch(cid, row)) if on_epoch else None)
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


def any_deterministic(exp: Experiment) -> bool:
    """Whether any cell of ``exp`` asks for ``deterministic = true`` (a pure-Python look at the matrix)."""
    from ..config.matrix import build_cells

    try:
        cells, _ = build_cells(exp)
    except Exception:  # noqa: BLE001 - preflight reports a bad matrix with its reason; here: be safe
        return True
    return any(c.train.deterministic for c in cells)


def _write_run_files(exp: Experiment, plan: Preflight) -> None:
    run_dir = exp.run_dir
    planned = [c.id for c in plan.cells]
    # A cell finished by an earlier run (another config, another --only) stays in the record:
    # dropping it from run.json would hide results that are still on disk.
    finished = sorted(p.parent.name for p in (run_dir / "cells").glob(f"*/{store.RESULT_FILE}"))
    store.write_record(run_dir / "run.json", RunRecord(
        schema_version=SCHEMA, name=exp.name, created_at=dt.datetime.now(dt.timezone.utc).isoformat(),
        source=str(exp.source), experiment=exp.to_dict(), cells=planned + [c for c in finished if c not in planned],
        skipped=[SkippedCell(**s.__dict__) for s in plan.skipped]))
    store.atomic_write_text(run_dir / "experiment.toml", exp.raw_text)
    store.write_record(run_dir / CandidatesRecord.FILE, candidates_record(exp))
    for name, ds in plan.datasets.items():
        store.write_record(run_dir / "datasets" / f"{name}.json",
                           DatasetFacts(**ds.facts(), duplicates=_duplicates(ds)))
        samples.write_dataset_samples(run_dir, name, ds)  # the report's sample-image grid


def _duplicates(ds: Dataset) -> dict:
    """Exact and near-duplicate images across splits (on the smallest decoded size: pHash resizes anyway)."""
    size = min(ds.decoded_sizes, default=64)
    decoded = ds.decoded(size)
    return find_cross_split_duplicates({s: np.asarray(d.images)[:, 0] for s, d in decoded.items()})


# --------------------------------------------------------------------------- one cell
def _features(model: BuiltModel, split: Split, *, device: torch.device, batch_size: int,
              dtype: torch.dtype | None = None) -> np.ndarray | None:
    """The head's inputs for every image (backbone run once, eval mode); None if the head is not last.

    The backbone runs under the same autocast dtype as per-epoch frozen training would, so the
    head trains on the very values it would see there (bf16 features, stored exactly as fp32).
    Out of memory halves the batch and extracts the split again.
    """
    feats, _, _ = backoff(lambda bs: _extract(model, split, device=device, batch_size=bs, dtype=dtype),
                          batch_size, what="feature extraction")
    return feats


def _extract(model: BuiltModel, split: Split, *, device: torch.device, batch_size: int,
             dtype: torch.dtype | None) -> np.ndarray | None:
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
        autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for j, idx in enumerate(batch_indices(len(split.labels), batch_size, shuffle=False)):
                y = model.model(fwd.inputs(split, idx, device=device, augment="none", generator=None))
                # Caching is exact only if the model's output *is* the head's output (true for
                # fc / classifier[-1] / heads.head; not for SqueezeNet's conv head + pooling).
                if j == 0 and (y.shape != outs[0].shape or not torch.allclose(y.float().cpu(), outs[0], atol=1e-5)):
                    return None
    finally:
        hook.remove()
    return torch.cat(feats).numpy()


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
        arch["imagenet"] = arch_stats_mod.weights_meta_for(cell.backbone.name, "offline")
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
            feats = {s: _features(built, sp, device=device, batch_size=bs, dtype=dtype) for s, sp in splits.items()}
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
