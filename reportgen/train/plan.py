"""`reportgen plan`: the cells of a matrix with their size and a cost *timed* on this machine.

A MACs ÷ typical-throughput guess was off by 10× and more (small layers are overhead-bound), so the
estimate here runs the training loop's own code on a few synthetic batches — ``train_one_epoch``
and ``predict`` from :mod:`reportgen.train.loop`, on the device `run` will use — once per distinct
(backbone, input size, strategy, batch size), then projects each cell:

* trainable epochs: batches per epoch × the timed forward+backward+step of that stage
  (a warm-up cell times both its frozen and its full stage);
* frozen cells on cached features: one timed forward pass over every image, then head-only epochs;
* every epoch: a validation pass; every cell: the final val + test scoring, Grad-CAM, the bootstrap
  of the metrics, and the model build, each timed here too;
* the run: decoding each (dataset, input size) not yet in the decode cache (a few files timed).

Early stopping can only make a cell shorter than its estimate; contention with other processes on
the machine makes both the timing and the run slower.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import Experiment
from ..config.matrix import Cell
from ..models.backbones import WeightsChoice, build_model
from ..models.stats import count_params
from ..models.strategies import set_stage, train_mode
from ..registry import strategies as strategy_registry
from .preflight import Preflight

TIMED_BATCHES = {"cpu": 2, "cuda": 5}  # after one (CPU) or two (GPU) warm-up batches
WARMUP_BATCHES = {"cpu": 1, "cuda": 2}


@dataclass
class Timing:
    """Seconds measured for one (backbone, size, strategy, batch size)."""

    step: dict[bool, float]  # stage frozen? -> one training batch (forward + backward + optimizer step)
    eval_image: float  # one image through the full model, eval mode (validation, test, feature extraction)
    head_step: float  # one training batch of the head alone on cached features (0 when not cached)
    build: float  # model construction + the architecture stats the runner records
    score: float  # metrics with bootstrap CIs, val + test (0 when included in ``cam``)
    cam: float  # the rest of the runner's per-cell work, timed for real (planning._cell_work)
    batches: int


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _split(n: int, *, channels: int, size: int, k: int, seed: int = 0) -> Any:
    from .loop import Split

    rng = np.random.default_rng(seed)
    return Split(images=rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8), labels=np.arange(n) % k)


def _time_epoch(fwd: Any, split_of: Any, *, lcfg: Any, model: torch.nn.Module, head_path: str, frozen: bool,
                batch_size: int, warmup: int, timed: int, dtype: Any) -> float:
    """Seconds per training batch of ``train_one_epoch`` in one stage (frozen backbone or all trainable)."""
    from .loop import make_loss, make_optimizer, train_one_epoch

    set_stage(model, head_path, frozen=frozen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, lcfg.train)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    loss_fn = make_loss(lcfg.train, weights=None, device=lcfg.device)
    gen = torch.Generator().manual_seed(0)
    out = 0.0
    for n, measure in ((warmup, False), (timed, True)):
        fwd.module.train()
        train_mode(model, head_path, frozen=frozen)
        _sync(lcfg.device)
        t0 = time.perf_counter()
        train_one_epoch(fwd, split_of(n * batch_size), cfg=lcfg, loss_fn=loss_fn, opt=opt, scaler=scaler, dtype=dtype,
                        batch_size=batch_size, generator=gen, sample_weights=None, epoch=1)
        _sync(lcfg.device)
        if measure:
            out = (time.perf_counter() - t0) / n
    return out


def needs(cell: Cell) -> set[str]:
    """What a cell's epochs run: "full" (all trainable), "frozen" (backbone frozen, per batch) or "head"
    (the head alone on cached features)."""
    cfg = cell.train
    if cell.strategy == "frozen":
        return {"head"} if cfg.frozen_feature_cache and not cfg.augment.is_random else {"frozen"}
    return {"frozen", "full"} if cell.strategy == "warmup" else {"full"}


def _cell_work(cell: Cell, *, model: torch.nn.Module, built: Any, num_classes: int, channels: int,
               device: torch.device, n: dict[str, int]) -> float:
    """The runner's per-cell work outside the epochs, run for real into a scratch folder: architecture stats,
    the per-layer table, predictions, metrics with bootstrap CIs, Grad-CAM and the mistakes gallery, best.pt."""
    import tempfile
    from pathlib import Path

    from .. import store
    from ..describe.consistency import score_cell
    from ..explain import explain_cell
    from ..models.stats import arch_stats
    from ..models.summary import write_layer_summary

    _import_seconds("pytorch_grad_cam")  # once per run: counted in the run's start-up, not per cell
    rng = np.random.default_rng(0)
    classes = [f"c{i}" for i in range(num_classes)]
    with tempfile.TemporaryDirectory(prefix="reportgen-plan-") as tmp:
        cdir = Path(tmp)
        t0 = time.perf_counter()
        model.cpu()  # the runner takes these stats before the model moves to the device
        arch_stats(model, input_size=cell.backbone.input_size, weights=None)
        write_layer_summary(cdir, model, backbone=cell.backbone.name, strategy=cell.strategy,
                            head_path=built.head_path, input_size=cell.backbone.input_size)
        model.to(device)
        for split in ("val", "test"):
            m = max(n.get(split, 0), num_classes)
            store.write_predictions(cdir / f"predictions_{split}.csv", np.arange(m) % num_classes,
                                    rng.dirichlet(np.ones(num_classes), size=m), [f"{split}[{i}]" for i in range(m)])
        score_cell(store.read_predictions(cdir / "predictions_val.csv"),
                   store.read_predictions(cdir / "predictions_test.csv"), classes=classes, seed=0)
        m = max(n.get("test", 0), num_classes)
        size = cell.backbone.input_size
        try:
            explain_cell(cdir, model=model, backbone=cell.backbone.name, normalization=built.normalization,
                         test_images=rng.integers(0, 256, (m, channels, size, size), dtype=np.uint8), device=device,
                         num_classes=num_classes)
        except Exception:  # noqa: BLE001 - the runner never fails a cell on its explanation; nor does the plan
            pass
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, cdir / "best.pt")
        _sync(device)
        return time.perf_counter() - t0


def measure(cell: Cell, *, num_classes: int, channels: int, device: torch.device, stages: set[str],
            n: dict[str, int]) -> Timing:
    """Time the loop's own code on synthetic batches of this cell's shape, on ``device``: once per backbone,
    input size and training settings, for every stage its cells need (finetune and scratch run the same
    computation per batch, so they share one timing)."""
    from .loop import Forward, LoopConfig, amp_dtype, predict

    cfg, size = cell.train, cell.backbone.input_size
    warmup, timed = WARMUP_BATCHES.get(device.type, 1), TIMED_BATCHES.get(device.type, 2)
    outputs = 1 if cfg.loss == "bce" else num_classes
    t0 = time.perf_counter()
    built = build_model(cell.backbone.name, WeightsChoice("none"), num_outputs=outputs, input_size=size,
                        stem=cell.backbone.stem)
    model = built.model
    build = time.perf_counter() - t0
    channels_last = device.type == "cuda" and cfg.channels_last
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    dtype = amp_dtype(cfg.amp, device)
    lcfg = LoopConfig(strategy=cell.strategy, train=cfg, num_classes=num_classes, device=device, seed=0)
    fwd = Forward(module=model, norm=built.normalization, channels_last=channels_last)
    bs = cfg.batch_size

    def images(n: int) -> Any:
        return _split(n, channels=channels, size=size, k=num_classes)

    step: dict[bool, float] = {}
    for frozen in (True, False):
        if ("frozen" if frozen else "full") in stages:
            step[frozen] = _time_epoch(fwd, images, lcfg=lcfg, model=model, head_path=built.head_path, frozen=frozen,
                                       batch_size=bs, warmup=warmup, timed=timed, dtype=dtype)
    eval_bs = cfg.eval_batch
    set_stage(model, built.head_path, frozen=False)
    predict(fwd, images(eval_bs * warmup), cfg=lcfg, batch_size=eval_bs, dtype=dtype)
    _sync(device)
    t0 = time.perf_counter()
    predict(fwd, images(eval_bs * timed), cfg=lcfg, batch_size=eval_bs, dtype=dtype)
    _sync(device)
    eval_image = (time.perf_counter() - t0) / (eval_bs * timed)
    head_step = 0.0
    if "head" in stages:
        from .loop import Split

        head = model.get_submodule(built.head_path)
        dim = getattr(head, "in_features", None)
        if dim is None and True not in step:  # not a linear head: the runner trains through the frozen backbone
            step[True] = _time_epoch(fwd, images, lcfg=lcfg, model=model, head_path=built.head_path, frozen=True,
                                     batch_size=bs, warmup=warmup, timed=timed, dtype=dtype)
        elif dim is not None:
            rng = np.random.default_rng(0)
            feats = Forward(module=head, norm=None)

            def features(n: int) -> Any:
                return Split(images=rng.standard_normal((n, dim)).astype(np.float32), labels=np.arange(n) % num_classes)

            head_step = _time_epoch(feats, features, lcfg=lcfg, model=model, head_path=built.head_path, frozen=True,
                                    batch_size=bs, warmup=warmup, timed=max(timed, 5), dtype=dtype)
    cell_work = _cell_work(cell, model=model, built=built, num_classes=num_classes, channels=channels,
                           device=device, n=n)
    return Timing(step=step, eval_image=eval_image, head_step=head_step, build=build, score=0.0, cam=cell_work,
                  batches=timed)


_IMPORTS: dict[str, float] = {}


def _import_seconds(module: str) -> float:
    """Seconds to import ``module`` the first time (a run pays it once); -1 when it is not installed."""
    import importlib
    import sys

    if module not in _IMPORTS:
        if module in sys.modules:
            _IMPORTS[module] = 0.0
        else:
            t0 = time.perf_counter()
            try:
                importlib.import_module(module)
                _IMPORTS[module] = time.perf_counter() - t0
            except ImportError:
                _IMPORTS[module] = -1.0
    return _IMPORTS[module]


def run_overhead_seconds(startup_s: float) -> float:
    """Once per run: the imports this process timed (torch, torchvision, the explain package)."""
    return startup_s + sum(v for v in _IMPORTS.values() if v > 0)


def project(cell: Cell, t: Timing, n: dict[str, int]) -> dict[str, float]:
    """Seconds of one cell: training epochs, validation passes, final scoring and fixed per-cell work."""
    cfg = cell.train
    steps = math.ceil(n["train"] / cfg.batch_size)
    epochs = cfg.epochs
    if "head" in needs(cell) and t.head_step:  # frozen on cached features: the backbone runs once over every image
        once = (n["train"] + n["val"] + n["test"]) * t.eval_image
        train = once + epochs * steps * t.head_step
        val = epochs * n["val"] / cfg.batch_size * t.head_step / 3  # head forward only
        final = 0.0
    else:
        frozen_epochs = strategy_registry.frozen_epochs(cell.strategy, epochs=epochs,
                                                        warmup_frozen_epochs=cfg.warmup_frozen_epochs)
        train = steps * (frozen_epochs * t.step.get(True, 0.0) + (epochs - frozen_epochs) * t.step.get(False, 0.0))
        val = epochs * n["val"] * t.eval_image
        final = (n["val"] + n["test"]) * t.eval_image
    overhead = t.build + t.score + t.cam
    return {"train_s": train, "val_s": val, "final_s": final, "overhead_s": overhead,
            "total_s": train + val + final + overhead}


def decode_seconds(exp: Experiment, pf: Preflight) -> float:
    """Decoding what is not yet in the decode cache: a few files timed, times the files, over the threads."""
    from ..data.cache import _decode_file, cache_dir, content_key
    from ..data.pipeline import stages

    total = 0.0
    seen = set()
    for cell in pf.cells:
        ds = pf.datasets[cell.dataset.name]
        size = cell.backbone.input_size
        st = stages(cell.train.augment, size)
        for split, src in ds.source.splits.items():
            s = st.train_size if split == "train" else size
            ops = st.train_decode if split == "train" else st.eval_decode
            ops = None if ops == [{"op": "resize", "size": s}] else ops
            key = content_key(src, size=s, color=ds.color, ops=ops)
            if key in seen or (cache_dir() / f"{key}.npy").is_file():
                continue
            seen.add(key)
            if src.files is None:  # arrays (npz): a resize per image
                sample = min(len(src), 64)
                t0 = time.perf_counter()
                from PIL import Image

                from ..data.cache import _to_chw

                for i in range(sample):
                    _to_chw(Image.fromarray(src.arrays[i].squeeze()), size=s, color=ds.color, ops=ops)
                total += (time.perf_counter() - t0) / sample * len(src)
            else:
                sample = src.files[:: max(1, len(src.files) // 8)][:8]
                t0 = time.perf_counter()
                for f in sample:
                    _decode_file(f, s, ds.color, ops)
                workers = min(8, os.cpu_count() or 1)
                total += (time.perf_counter() - t0) / len(sample) * len(src.files) / workers
    return total


def plan_rows(exp: Experiment, pf: Preflight, *, device: torch.device | None = None) -> list[dict[str, Any]]:
    from .environment import pick_device

    dev = device or pick_device("auto")
    timings: dict[tuple, Timing] = {}
    counted: dict[tuple, dict[str, Any]] = {}
    rows = []
    for cell in pf.cells:
        ds = pf.datasets[cell.dataset.name]
        k = len(ds.classes)
        t = cell.train
        key = _timing_key(cell, k, ds.color)
        if key not in timings:
            stages = set().union(*(needs(c) for c in pf.cells
                                   if _timing_key(c, len(pf.datasets[c.dataset.name].classes),
                                                  pf.datasets[c.dataset.name].color) == key))
            timings[key] = measure(cell, num_classes=k, channels=1 if ds.color == "gray" else 3, device=dev,
                                   stages=stages, n={s: len(src) for s, src in ds.source.splits.items()})
        mkey = (cell.backbone.name, cell.strategy, cell.backbone.input_size, k)
        if mkey not in counted:
            built = build_model(cell.backbone.name, WeightsChoice("none"), num_outputs=k,
                                input_size=cell.backbone.input_size, stem=cell.backbone.stem)
            set_stage(built.model, built.head_path, frozen=cell.strategy == "frozen")
            counted[mkey] = count_params(built.model)
        n = {s: len(src) for s, src in ds.source.splits.items()}
        cost = project(cell, timings[key], n)
        rows.append({"cell": cell.id, "dataset": cell.dataset.name, "backbone": cell.backbone.name,
                     "strategy": cell.strategy, "seed": cell.seed, **counted[mkey],
                     "input_size": cell.backbone.input_size, "epochs": t.epochs, "n_train": n["train"],
                     **cost, "device": _device_label(dev), "weights": pf.choice_for(cell).label})
    return rows


def _timing_key(cell: Cell, k: int, color: str) -> tuple:
    """Cells that run the same computation per batch share one timing (the strategy is not part of it)."""
    t = cell.train
    return (cell.backbone.name, cell.backbone.input_size, cell.backbone.stem, t.batch_size, t.eval_batch_size,
            t.amp, str(t.augment.to_json()), t.loss, t.optimizer, t.channels_last, k, color)


def _device_label(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu×{torch.get_num_threads()}"


def _human(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def duration(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def plan_table(rows: list[dict[str, Any]], *, decode_s: float = 0.0, run_s: float = 0.0,
               timed_batches: int | None = None) -> str:
    head = ["#", "dataset", "backbone", "strategy", "seed", "trainable", "total", "size", "epochs", "n_train",
            "train", "eval", "other", "≈ time"]
    body = [[str(i), r["dataset"], r["backbone"], r["strategy"], str(r["seed"]), _human(r["trainable"]),
             _human(r["total"]), f"{r['input_size']}px", str(r["epochs"]), str(r["n_train"]),
             duration(r["train_s"]), duration(r["val_s"] + r["final_s"]), duration(r["overhead_s"]),
             duration(r["total_s"])] for i, r in enumerate(rows, 1)]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if j >= 4 else c.ljust(w) for j, (c, w) in enumerate(zip(cells, widths, strict=False)))

    total = sum(r["total_s"] for r in rows) + decode_s + run_s
    dev = rows[0]["device"] if rows else "cpu"
    n_cells = f"{len(rows)} cell{'s' if len(rows) != 1 else ''}"
    decode = f", incl. decoding {duration(decode_s)} (not yet cached)" if decode_s >= 1 else ""
    decode += f", start-up {duration(run_s)}" if run_s >= 1 else ""
    how = (f"timed: {timed_batches} real batches per backbone, input size and stage on this device"
           if timed_batches else "timed on this device")
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body), "",
                      f"{n_cells}, ≈ {duration(total)} on {dev}{decode} ({how}; early stopping can only shorten "
                      "it, other programs using the machine lengthen it)"])
