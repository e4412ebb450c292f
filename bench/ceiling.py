"""(c) the compute ceiling, the warm-up that keeps one-time costs out of every timing, GPU images/s.

The ceiling is reportgen's own epoch with the input pipeline taken away: the loop's
``train_one_epoch`` and ``predict`` with the same ``LoopConfig`` (optimizer, loss, autocast dtype,
channels_last, batch order), on inputs already normalized and resident on the device. Everything
reportgen adds (uint8 → float, normalization, copies, its per-epoch snapshot and metrics) is what
``reportgen epoch / ceiling epoch`` measures, so a ratio below 1.0 means the ceiling is wrong.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from bench.common import _timer
from reportgen.data.batches import batch_indices, to_model_input
from reportgen.models.backbones import WeightsChoice, build_model, resolve_weights
from reportgen.models.strategies import set_stage
from reportgen.train.device import torch_flags
from reportgen.train.loop import (
    Forward,
    LoopConfig,
    Split,
    amp_dtype,
    fit,
    make_loss,
    make_optimizer,
    predict,
    train_one_epoch,
)


# --------------------------------------------------------------------------- warm-up
def warm_up(*, backbone: str, weights: str, size: int, batch_sizes: set[int], eval_batch_sizes: set[int],
            device: str) -> dict[str, Any]:
    """One training step and one eval forward at every batch shape the timed phases will use.

    The first step at a new shape pays one-time costs (oneDNN primitive creation, allocator growth,
    autograd threads): several seconds on a CPU. Whichever phase ran first would pay them, so they
    are paid here, timed, and kept out of every comparison.
    """

    import torch.nn.functional as F

    from reportgen.models.backbones import build_model, resolve_weights

    rec: dict[str, Any] = {"batch_sizes": sorted(batch_sizes), "eval_batch_sizes": sorted(eval_batch_sizes)}
    dev = torch.device(device)
    with _timer(rec):
        model = build_model(backbone, resolve_weights(backbone, weights), num_outputs=2, input_size=size).model.to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model.train()
        for bs in sorted(batch_sizes):
            x, y = torch.randn(bs, 3, size, size, device=dev), torch.zeros(bs, dtype=torch.long, device=dev)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            for bs in sorted(eval_batch_sizes):
                model(torch.randn(bs, 3, size, size, device=dev))
    return rec



def train_defaults(**over: Any) -> dict[str, Any]:
    from reportgen.config import TRAIN_KEYS

    cfg = {k: copy.deepcopy(default) for k, (default, _) in TRAIN_KEYS.items()}
    cfg.update(over)
    return cfg


@dataclass
class _Resident(Forward):
    """A Forward that hands out batches gathered before the timer started (normalized, on the device).

    Not even a gather per batch is left inside the timed epoch: the queue holds the epoch's batches, in
    the order the loop will ask for them.
    """

    resident: dict[int, torch.Tensor] = field(default_factory=dict)  # id(split) → (N, 3, S, S)
    queue: dict[int, list[torch.Tensor]] = field(default_factory=dict)  # id(split) → the epoch's batches

    def prepare(self, split: Split, batches: list[np.ndarray]) -> None:
        x = self.resident[id(split)]
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self.queue[id(split)] = [x[torch.from_numpy(idx).to(x.device)].contiguous(memory_format=fmt)
                                 for idx in batches]

    def inputs(self, split: Split, idx: np.ndarray, *, device: torch.device, augment: str,
               generator: torch.Generator | None) -> torch.Tensor:
        x = self.queue[id(split)].pop(0)
        assert len(x) == len(idx), "the ceiling's batches must be the loop's batches"
        return x


class Ceiling:
    """reportgen's fine-tune epoch (train pass + validation pass with loss) minus the input pipeline."""

    def __init__(self, arrays: dict[str, tuple[np.ndarray, np.ndarray]], *, backbone: str, weights: str | None,
                 size: int, train_cfg: dict[str, Any], device: str, seed: int = 0) -> None:
        dev = torch.device(device)
        torch.manual_seed(seed)  # as run_cell does before building: the same initial head
        choice = WeightsChoice("none") if weights is None else resolve_weights(backbone, weights)
        built = build_model(backbone, choice, num_outputs=2, input_size=size)
        self.channels_last = dev.type == "cuda" and bool(train_cfg["channels_last"])
        self.model = built.model.to(dev)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        set_stage(self.model, built.head_path, frozen=False)
        self.dev, self.cfg = dev, train_cfg
        self.lcfg = LoopConfig(strategy="finetune", train=train_cfg, num_classes=2, device=dev, seed=seed)
        self.dtype = amp_dtype(train_cfg["amp"], dev)
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None
        self.loss = make_loss(train_cfg, weights=None, device=dev)
        self.opt = make_optimizer([p for p in self.model.parameters() if p.requires_grad], train_cfg)
        self.generator = torch.Generator().manual_seed(seed)
        self.splits: dict[str, Split] = {}
        resident: dict[int, torch.Tensor] = {}
        for s in ("train", "val"):
            images, labels = arrays[s]
            self.splits[s] = Split(images=images, labels=np.asarray(labels))
            resident[id(self.splits[s])] = to_model_input(torch.from_numpy(np.asarray(images)).to(dev),
                                                          built.normalization, channels_last=self.channels_last)
        self.fwd = _Resident(module=self.model, norm=None, channels_last=self.channels_last, resident=resident)
        self.eval_bs = self.lcfg.train.eval_batch  # the loop's own rule (config TrainConfig.eval_batch)
        self.n_train = len(self.splits["train"].labels)
        self.train_s: list[float] = []
        self.val_s: list[float] = []
        self.cpu_s: list[float] = []

    def _sync(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def epoch(self) -> None:
        train, val = self.splits["train"], self.splits["val"]
        # The loop's batch order for this epoch, drawn from a copy of its generator.
        order = torch.Generator()
        order.set_state(self.generator.get_state())
        self.fwd.prepare(train, list(batch_indices(len(train.labels), self.cfg["batch_size"], shuffle=True,
                                                   generator=order)))
        self.fwd.prepare(val, list(batch_indices(len(val.labels), self.eval_bs, shuffle=False)))
        self._sync()
        cpu = time.process_time()
        with torch_flags(deterministic=False, device=self.dev):  # the flags run_cell sets
            start = time.perf_counter()
            self.model.train()
            train_one_epoch(self.fwd, self.splits["train"], cfg=self.lcfg, loss_fn=self.loss, opt=self.opt,
                            scaler=self.scaler, dtype=self.dtype, batch_size=self.cfg["batch_size"],
                            generator=self.generator, sample_weights=None, epoch=1)
            self._sync()
            mid = time.perf_counter()
            predict(self.fwd, self.splits["val"], cfg=self.lcfg, batch_size=self.eval_bs, dtype=self.dtype,
                    loss_fn=self.loss)
            self._sync()
        self.train_s.append(mid - start)
        self.val_s.append(time.perf_counter() - mid)
        self.cpu_s.append(time.process_time() - cpu)

    def summary(self) -> dict[str, Any]:
        epoch_s = [t + v for t, v in zip(self.train_s, self.val_s, strict=False)]
        tr = float(np.mean(self.train_s))
        return {"train_epoch_s": self.train_s, "val_epoch_s": self.val_s, "epoch_s": epoch_s,
                "train_mean_s": tr, "val_mean_s": float(np.mean(self.val_s)), "epoch_mean_s": float(np.mean(epoch_s)),
                "epoch_min_s": min(epoch_s), "images_per_s": self.n_train / min(self.train_s), "n_train": self.n_train,
                "epoch_cpu_s": self.cpu_s,
                "dtype": None if self.dtype is None else str(self.dtype).removeprefix("torch."),
                "channels_last": self.channels_last,
                "what": "reportgen's train_one_epoch + predict on device-resident normalized inputs"}


class FitEpochs:
    """reportgen's ``fit``, one epoch per call, on exactly what ``run_cell`` feeds it for the fine-tune cell
    (the memory-mapped uint8 cache, the cell's model, normalization and [train] table), so its epochs can be
    interleaved with the ceiling's: on a shared machine the load then changes under both sides alike."""

    def __init__(self, exp: Any, *, device: str) -> None:
        from reportgen.train.preflight import preflight

        pf = preflight(exp)
        cell = next(c for c in pf.cells if c.strategy == "finetune")
        decoded = pf.datasets[cell.dataset.name].decoded(cell.backbone.input_size)
        self.splits = {s: Split(images=d.images, labels=d.labels) for s, d in decoded.items()}
        self.dev = torch.device(device)
        torch.manual_seed(cell.seed)
        built = build_model(cell.backbone.name, pf.choice_for(cell), num_outputs=2, input_size=cell.backbone.input_size)
        cl = self.dev.type == "cuda" and bool(cell.train["channels_last"])
        self.model = built.model.to(self.dev)
        if cl:
            self.model.to(memory_format=torch.channels_last)
        set_stage(self.model, built.head_path, frozen=False)
        self.head = built.head_path
        self.fwd = Forward(module=self.model, norm=built.normalization, channels_last=cl)
        self.lcfg = LoopConfig(strategy="finetune", train=replace(cell.train, epochs=1, patience=0), num_classes=2,
                               device=self.dev, seed=cell.seed)
        self.epoch_s: list[float] = []
        self.cpu_s: list[float] = []

    def epoch(self) -> None:
        cpu = time.process_time()
        with torch_flags(deterministic=False, device=self.dev):
            res = fit(self.fwd, head_path=self.head, train=self.splits["train"], val=self.splits["val"], cfg=self.lcfg,
                      full_model=self.model)
        self.epoch_s.append(res.epochs[0]["seconds"])  # what epochs.csv records: training + validation pass
        self.cpu_s.append(time.process_time() - cpu)

    def summary(self) -> dict[str, Any]:
        return {"epoch_s": self.epoch_s, "epoch_min_s": min(self.epoch_s), "epoch_mean_s": float(np.mean(self.epoch_s)),
                "epoch_cpu_s": self.cpu_s,
                "what": "reportgen's fit, one epoch per call, on the fine-tune cell's inputs, interleaved with the ceiling"}


def interleaved_ratio(rg: list[float], ce: list[float]) -> float:
    """Median over reportgen epochs of epoch ÷ the mean of the ceiling epochs just before and after it."""
    return float(np.median([r / ((ce[i] + ce[i + 1]) / 2) for i, r in enumerate(rg)]))


# --------------------------------------------------------------------------- GPU throughput
def gpu_throughput(backbone: str, *, size: int = 224, n_train: int = 2048, n_val: int = 256,
                   batch_size: int = 128, epochs: int = 2) -> dict[str, Any]:
    """Training images/s (bf16, channels_last): reportgen's ``fit`` on a uint8 split vs the ceiling."""
    dev = torch.device("cuda")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_train, 3, size, size), dtype=np.uint8)
    labels = rng.integers(0, 2, n_train).astype(np.int64)
    train, val = Split(images=images, labels=labels), Split(images=images[:n_val], labels=labels[:n_val])
    cfg = train_defaults(epochs=epochs, batch_size=batch_size, eval_batch_size=batch_size, amp="bf16",
                         channels_last=True, scheduler="none", augment="none", selection_metric="val_loss")

    torch.manual_seed(0)
    built = build_model(backbone, WeightsChoice("none"), num_outputs=2, input_size=size)
    model = built.model.to(dev, memory_format=torch.channels_last)
    lcfg = LoopConfig(strategy="finetune", train=cfg, num_classes=2, device=dev, seed=0)
    with torch_flags(deterministic=False, device=dev):
        res = fit(Forward(module=model, norm=built.normalization, channels_last=True), head_path=built.head_path,
                  train=train, val=val, cfg=lcfg, full_model=model)
    rg_epoch = min(r["seconds"] for r in res.epochs)  # the first epoch pays cuDNN autotuning and allocation
    del model, res
    ceiling = Ceiling({"train": (images, labels), "val": (images[:n_val], labels[:n_val])}, backbone=backbone,
                      weights=None, size=size, train_cfg=cfg, device="cuda")
    for _ in range(epochs):
        ceiling.epoch()
    ce = ceiling.summary()
    return {"backbone": backbone, "size": size, "batch_size": batch_size, "n_train": n_train, "n_val": n_val,
            "reportgen_epoch_s": rg_epoch, "ceiling_epoch_s": ce["epoch_min_s"],
            "reportgen_images_per_s": n_train / rg_epoch, "ceiling_images_per_s": n_train / ce["epoch_min_s"],
            "fraction_of_ceiling": ce["epoch_min_s"] / rg_epoch,
            "note": "epoch = train on n_train + eval on n_val, both sides, bf16 autocast + channels_last"}
