"""The training loop: objects in, numbers out. No files, no printing.

Read top to bottom: set-up (loss, optimizer, scheduler: setup.py) → one epoch of training → evaluation
→ the epoch loop with model selection on the validation split and early stopping. The test split
never enters this file; the runner scores it once, with the selected weights.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import Augment, TrainConfig
from ..data.batches import Normalization, augment_generator, batch_indices, load_batch, to_model_input
from ..describe import metrics
from ..errors import TrainingDiverged
from ..models import strategies
from ..models.strategies import set_stage, train_mode
from . import bn
from .checkpoint import restore_rng, rng_state
from .device import EpochStart, backoff
from .memory import PeakMemory

# The set-up functions live in setup.py; imported here by name so callers (and tests that spy on
# loop.make_loss) keep one place to reach them.
from .setup import (  # noqa: F401
    amp_dtype,
    class_weights,
    make_loss,
    make_optimizer,
    make_scheduler,
    nll,
    sampler_weights,
    to_probs,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- inputs
@dataclass
class Split:
    """A split as the loop sees it: cached uint8 images (or precomputed features) and labels."""

    images: np.ndarray
    labels: np.ndarray


@dataclass
class LoopConfig:
    strategy: str
    train: TrainConfig  # a mapping of [train] keys (tests, bench) is checked into one
    num_classes: int
    device: torch.device
    seed: int
    progress: bool = False
    desc: str = ""

    def __post_init__(self) -> None:
        self.train = TrainConfig.from_mapping(self.train)


@dataclass
class EpochLog:
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LoopResult:
    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_value: float | None
    epochs: list[dict[str, Any]]
    stopped_early: bool
    batch_size_used: int
    oom_retries: int
    amp_dtype: str | None
    # What the loss and the sampler actually used, per class (None: not used), so the report prints
    # the values rather than re-deriving them from the class counts.
    class_weights: list[float] | None = None
    sampler_weights: list[float] | None = None
    # One entry per stage that ran: name, trains ("head" | "all"), first_epoch, epochs, trainable_params,
    # seconds, peak_mem_mb (result.json ``stages``).
    stages: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- one pass
@dataclass
class Forward:
    """How a batch becomes logits: through the whole model, or through the head on cached features."""

    module: nn.Module
    norm: Normalization | None  # None: inputs are precomputed features, not images
    channels_last: bool = False

    def inputs(self, split: Split, idx: np.ndarray, *, device: torch.device, augment: Augment | str,
               generator: torch.Generator | None) -> torch.Tensor:
        batch = load_batch(split.images, idx, device=device)
        if self.norm is None:
            return batch
        return to_model_input(batch, self.norm, augment=augment, generator=generator,
                              channels_last=self.channels_last)


def _summary(labels: np.ndarray, probs: np.ndarray, loss: float, k: int) -> dict[str, float | None]:
    """Loss, accuracy, macro-F1 and AUC by the same kernels as the reported metrics (``metrics.summarize``),
    so the epoch that model selection picks is the epoch the report's numbers describe."""
    m = metrics.summarize(labels, probs, class_names=[str(i) for i in range(k)], n_boot=0)
    return {"loss": loss, "acc": m["accuracy"], "macro_f1": m["macro_f1"], "auc": m["auc"]}


_DIVERGED_FIX = ("lower [train].lr (or the strategy's / backbone's override), e.g. by 10×; "
                 "with AMP in fp16, try amp = \"off\"")


def _check_loss(loss: float | None, *, split: str, epoch: int, cfg: LoopConfig) -> None:
    """A NaN/inf loss means the weights are already ruined: stop the cell rather than report noise."""
    if loss is not None and not np.isfinite(loss):
        raise TrainingDiverged(f"{cfg.desc or cfg.strategy}: the {split} loss is {loss} in epoch {epoch} "
                               f"(lr {cfg.train.lr}): training diverged", key="train.lr",
                               expected="a finite loss every epoch", fix=_DIVERGED_FIX)


def train_one_epoch(fwd: Forward, split: Split, *, cfg: LoopConfig, loss_fn: Callable, opt: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler | None, dtype: torch.dtype | None, batch_size: int,
                    generator: torch.Generator, sample_weights: np.ndarray | None, epoch: int,
                    aug_generator: torch.Generator | None = None) -> dict:
    """One pass over ``split``. ``generator`` (CPU) orders the batches; ``aug_generator`` (on the
    device; default: ``generator``) draws the augmentation."""
    from tqdm.auto import tqdm

    bce = cfg.train.loss == "bce"
    n = len(split.labels)
    total: torch.Tensor | float = 0.0
    seen = 0
    all_probs, all_labels = [], []
    batches = list(batch_indices(n, batch_size, shuffle=True, generator=generator, sample_weights=sample_weights))
    bar = tqdm(batches, desc=f"{cfg.desc} epoch {epoch}/{cfg.train.epochs}", leave=False, unit="batch",
               disable=not cfg.progress)
    for step, idx in enumerate(bar, start=1):
        x = fwd.inputs(split, idx, device=cfg.device, augment=cfg.train.augment,
                       generator=aug_generator or generator)
        y = load_batch(split.labels, idx, device=cfg.device)
        with torch.autocast(cfg.device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            logits = fwd.module(x)
            loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        # Accumulate on the device: a float()/.cpu() per batch would make the CPU wait for the GPU
        # every step and stop the next batch's copy from overlapping with compute.
        total = total + loss.detach() * len(idx)
        seen += len(idx)
        all_probs.append(to_probs(logits.detach(), bce=bce))
        all_labels.append(split.labels[idx])
        if cfg.progress and (step % 50 == 0 or step == len(batches)):  # float() waits for the device
            bar.set_postfix(loss=f"{float(total) / seen:.4f}")
    mean_loss = float(total) / max(seen, 1)
    # Checked once per epoch, not per batch: a per-batch check would sync the CPU with the GPU every step.
    _check_loss(mean_loss, split="training", epoch=epoch, cfg=cfg)
    probs = torch.cat(all_probs).cpu().double().numpy()
    labels = np.concatenate(all_labels)
    # ``loss``: plain NLL of the training batches' outputs, comparable with the validation and test losses;
    # ``objective``: the criterion the optimizer minimised (class weights, label smoothing).
    return {**_summary(labels, probs, nll(labels, probs), cfg.num_classes), "objective": mean_loss}


def predict(fwd: Forward, split: Split, *, cfg: LoopConfig, batch_size: int, dtype: torch.dtype | None,
            loss_fn: Callable | None = None) -> tuple[np.ndarray, float | None]:
    """Class probabilities for a whole split (model in eval mode), and the mean loss if asked.

    Out of memory halves the batch and starts the split again (evaluation changes no state).
    """
    (probs, loss), _, _ = backoff(
        lambda bs: _predict(fwd, split, cfg=cfg, batch_size=bs, dtype=dtype, loss_fn=loss_fn), batch_size,
        what=f"{cfg.desc} evaluation")
    return probs, loss


@torch.inference_mode()
def _predict(fwd: Forward, split: Split, *, cfg: LoopConfig, batch_size: int, dtype: torch.dtype | None,
             loss_fn: Callable | None) -> tuple[np.ndarray, float | None]:
    fwd.module.eval()
    bce = cfg.train.loss == "bce"
    out: list[torch.Tensor] = []
    total: torch.Tensor | float = 0.0
    for idx in batch_indices(len(split.labels), batch_size, shuffle=False):
        x = fwd.inputs(split, idx, device=cfg.device, augment="none", generator=None)
        with torch.autocast(cfg.device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            logits = fwd.module(x)
        if loss_fn is not None:
            y = load_batch(split.labels, idx, device=cfg.device)
            total = total + loss_fn(logits, y) * len(idx)
        out.append(to_probs(logits, bce=bce))  # stays on the device: one copy to the host at the end
    probs = torch.cat(out).cpu().double().numpy()
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        # softmax of an inf/NaN logit: any AUC or accuracy computed from these would be meaningless.
        raise TrainingDiverged(f"{cfg.desc or cfg.strategy}: {int(bad.sum())} of {len(probs)} predicted "
                               f"probabilities are not finite (first at sample {int(np.flatnonzero(bad)[0])})",
                               key="train.lr", expected="finite class probabilities", fix=_DIVERGED_FIX)
    return probs, (float(total) / len(split.labels) if loss_fn is not None else None)


# --------------------------------------------------------------------------- the epoch loop
def _augment_generator(seed: int, dev: torch.device, generator: torch.Generator) -> torch.Generator:
    """The augmentation stream: its own generator on a GPU (draws stay on the device), else the batch-order
    one. A function so CPU tests can hand the loop a separate stream, as on a GPU."""
    return augment_generator(seed, dev) if dev.type != "cpu" else generator


def _better(value: float | None, best: float | None, *, lower: bool) -> bool:
    if value is None:
        return False
    if best is None:
        return True
    return value < best if lower else value > best


def fit(fwd: Forward, *, head_path: str, train: Split, val: Split, cfg: LoopConfig,
        full_model: nn.Module, checkpoint: Callable[[dict[str, Any]], None] | None = None,
        resume: dict[str, Any] | None = None, on_epoch: Callable[[dict[str, Any]], None] | None = None,
        memory: PeakMemory | None = None) -> LoopResult:
    """Train with model selection on ``val``; return the best weights (a copy) and the epoch log.

    ``fwd.module`` is what runs per batch (the whole model, or just the head on cached features);
    ``full_model`` is what the strategy's freezing applies to and what the best state is taken from.
    ``checkpoint`` is called after every epoch with the whole loop state; passing that state back as
    ``resume`` continues from the epoch after it, exactly as if the loop had never stopped.
    ``on_epoch`` gets each epoch's log row as soon as it is known (live exporters watch training with it).
    ``memory`` measures each epoch's peak (the runner passes the cell's meter, so the cell's peak spans them).

    The strategy's stages (``models.strategies.STAGES``) decide what trains in each epoch; every stage is
    logged (first epoch, trainable parameters, time, peak memory) in ``LoopResult.stages``.
    """
    t = cfg.train
    dev = cfg.device
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # batch order: indexes host arrays, so on the CPU
    aug_generator = _augment_generator(cfg.seed, dev, generator)
    dtype = amp_dtype(t.amp, dev)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    weights = class_weights(train.labels, cfg.num_classes) if t.class_weighted_loss else None
    loss_fn = make_loss(t, weights=weights, device=dev)
    sample_weights = sampler_class = None
    if t.weighted_sampler:
        sampler_class = sampler_weights(train.labels, cfg.num_classes)
        sample_weights = sampler_class[train.labels]
    meter = memory or PeakMemory(dev)

    warmup_epochs = t.warmup_frozen_epochs
    n_stages = len(strategies.stages(cfg.strategy))
    # Only parameters that can ever train go to the optimizer; for warm-up that is all of them
    # (frozen ones have no gradient during the warm-up epochs, so the optimizer skips them).
    set_stage(full_model, head_path, frozen=all(st.trains == "head" for st in strategies.stages(cfg.strategy)))
    opt = make_optimizer([p for p in full_model.parameters() if p.requires_grad], t)
    sched = make_scheduler(opt, t)
    metric = t.selection_metric
    lower = metric == "val_loss"
    eval_bs = t.eval_batch

    batch_size, oom_retries = t.batch_size, 0
    best_state: dict[str, torch.Tensor] = {}
    best_epoch, best_value, since_best = 0, None, 0
    rows: list[dict[str, Any]] = []
    stages_log: list[dict[str, Any]] = []
    stopped_early = halted = False
    # On cached features only the head ever changes (the backbone never runs here), so the per-epoch
    # checkpoint keeps just the head's keys: the resumed cell rebuilds the same backbone bit for bit.
    def saved(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return state if fwd.norm is not None else {k: v for k, v in state.items() if k.startswith(head_path + ".")}

    if resume is not None:  # ---- continue a killed run: every piece of state the next epoch reads
        base = {k: v.detach().to("cpu", copy=True) for k, v in full_model.state_dict().items()}
        full_model.load_state_dict({**base, **resume["model"]})
        opt.load_state_dict(resume["optimizer"])
        if sched is not None:
            sched.load_state_dict(resume["scheduler"])
        if scaler is not None and resume.get("scaler"):
            scaler.load_state_dict(resume["scaler"])
        restore_rng(resume["rng"], generator, device=dev, aug_generator=aug_generator)
        rows, best_state = list(resume["rows"]), ({**base, **resume["best_state"]} if resume["best_state"] else {})
        best_epoch, best_value, since_best = resume["best_epoch"], resume["best_value"], resume["since_best"]
        batch_size, oom_retries = resume["batch_size"], resume["oom_retries"]
        stopped_early, halted = resume["stopped_early"], resume["halted"]
        stages_log = [dict(s) for s in resume.get("stages", [])]
    for epoch in range(len(rows) + 1, 0 if halted else t.epochs + 1):
        index = strategies.stage_index(cfg.strategy, epoch, warmup_frozen_epochs=warmup_epochs)
        stage = strategies.stages(cfg.strategy)[index]
        frozen = stage.trains == "head"
        set_stage(full_model, head_path, frozen=frozen)
        if not stages_log or stages_log[-1]["index"] != index:
            # A new stage: early stopping and a plateau schedule start counting again here, so epochs
            # of the head-only warm-up can neither stop the run before fine-tuning nor cut its LR.
            stages_log.append({"index": index, "name": stage.name, "trains": stage.trains, "first_epoch": epoch,
                               "epochs": 0, "trainable_params": strategies.trainable_params(full_model),
                               "seconds": 0.0, "peak_mem_mb": 0.0, "bn_recalibration_batches": 0})
            since_best = 0
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau) and epoch > 1:
                sched.best, sched.num_bad_epochs, sched.cooldown_counter = sched.mode_worse, 0, 0
        last_stage = index == n_stages - 1
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        meter.reset()
        start = time.perf_counter()
        gens = [generator] if aug_generator is generator else [generator, aug_generator]
        # Out of memory halves the batch and reruns the epoch from exactly where it began (weights,
        # optimizer moments, scheduler, scaler, random streams), not from a half-updated model.
        at_start = EpochStart.capture(full_model, opt, sched, scaler, gens, device=dev)

        def attempt(bs: int, frozen: bool = frozen, epoch: int = epoch) -> dict:
            # The module that runs (the head on cached features, or a torch.compile wrapper around
            # the model) first, the strategy's modes last: a compiled wrapper's .train() reaches
            # every submodule and would put a frozen backbone's BatchNorm back into train mode.
            fwd.module.train()
            train_mode(full_model, head_path, frozen=frozen)
            return train_one_epoch(fwd, train, cfg=cfg, loss_fn=loss_fn, opt=opt, scaler=scaler, dtype=dtype,
                                   batch_size=bs, generator=generator, sample_weights=sample_weights,
                                   epoch=epoch, aug_generator=aug_generator)

        tr, batch_size, retries = backoff(
            attempt, batch_size, what=f"{cfg.desc} epoch {epoch}",
            before_retry=functools.partial(at_start.restore, full_model, opt, sched, scaler, gens))
        oom_retries += retries
        del at_start
        recal = 0
        if stage.trains == "all" and fwd.norm is not None and bn.trains_bn(full_model):
            # Running statistics of the weights as they now are, not an average over the epoch's
            # changing weights (the eval-mode collapse of few-step from-scratch runs: see train/bn.py).
            def recalibrate(bs: int) -> int:  # starts from reset statistics: a retry after OOM is clean
                with torch.autocast(dev.type, dtype=dtype) if dtype else contextlib.nullcontext():
                    return bn.recalibrate(full_model, bn.recalibration_batches(fwd, train, device=dev, batch_size=bs))

            recal, _, _ = backoff(recalibrate, batch_size, what=f"{cfg.desc} BatchNorm statistics")
        val_probs, _ = predict(fwd, val, cfg=cfg, batch_size=eval_bs, dtype=dtype)
        val_loss = nll(val.labels, val_probs)
        _check_loss(val_loss, split="validation", epoch=epoch, cfg=cfg)
        va = _summary(val.labels, val_probs, val_loss, cfg.num_classes)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - start
        peak = meter.segment()
        lr = opt.param_groups[0]["lr"]
        rows.append({"epoch": epoch, "stage": stage.name,
                     "train_loss": tr["loss"], "train_acc": tr["acc"], "train_macro_f1": tr["macro_f1"],
                     "val_loss": va["loss"], "val_acc": va["acc"], "val_macro_f1": va["macro_f1"],
                     "val_auc": va["auc"], "lr": lr, "seconds": seconds, "peak_mem_mb": peak,
                     "train_objective": tr["objective"]})
        cur = stages_log[-1]
        cur["epochs"] += 1
        cur["seconds"] += seconds
        cur["peak_mem_mb"] = max(cur["peak_mem_mb"], peak)
        cur["bn_recalibration_batches"] = recal
        value = {"val_loss": va["loss"], "val_acc": va["acc"], "val_macro_f1": va["macro_f1"],
                 "val_auc": va["auc"]}[metric]
        if _better(value, best_value, lower=lower):
            # A copy, never a reference: state_dict() tensors alias the live weights, and saving
            # the reference would silently turn "best" into "last" (MedMNIST/experiments#8).
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in full_model.state_dict().items()}
            best_epoch, best_value, since_best = epoch, value, 0
        else:
            since_best += 1
        if sched is not None:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                if last_stage:  # counts plateaus of the last stage only (see the stage switch above)
                    sched.step(value if value is not None else 0.0)
            else:
                sched.step()
        if log.isEnabledFor(logging.INFO):  # -v: a formatted row, the stage as recorded (not a raw dict)
            from .progress import format_epoch

            log.info("%s %s", cfg.desc, format_epoch(rows[-1], epochs=t.epochs))
        # Early stopping only within the last stage: a run stops for want of progress in what it was
        # asked to do, never before it has done it (a warm-up that never fine-tunes is not a warm-up).
        halted = bool(t.patience and last_stage and since_best >= t.patience)
        stopped_early = halted and epoch < t.epochs
        if checkpoint is not None:
            checkpoint({"epoch": epoch, "model": saved(full_model.state_dict()), "optimizer": opt.state_dict(),
                        "scheduler": None if sched is None else sched.state_dict(),
                        "scaler": None if scaler is None else scaler.state_dict(),
                        "rng": rng_state(generator, device=dev, aug_generator=aug_generator),
                        "rows": rows, "best_state": saved(best_state),
                        "best_epoch": best_epoch, "best_value": best_value, "since_best": since_best,
                        "batch_size": batch_size, "oom_retries": oom_retries,
                        "stopped_early": stopped_early, "halted": halted, "stages": stages_log})
        if on_epoch is not None:
            on_epoch(dict(rows[-1]))
        if halted:
            break
    if not best_state:  # the metric was undefined every epoch (e.g. AUC with one class in val)
        best_state = {k: v.detach().to("cpu", copy=True) for k, v in full_model.state_dict().items()}
        best_epoch = len(rows)
    return LoopResult(best_state=best_state, best_epoch=best_epoch, best_value=best_value, epochs=rows,
                      stopped_early=stopped_early, batch_size_used=batch_size, oom_retries=oom_retries,
                      amp_dtype=None if dtype is None else str(dtype).removeprefix("torch."),
                      class_weights=None if weights is None else [float(w) for w in weights.tolist()],
                      sampler_weights=None if sampler_class is None else [float(w) for w in sampler_class],
                      stages=[{k: v for k, v in s.items() if k != "index"} for s in stages_log])
