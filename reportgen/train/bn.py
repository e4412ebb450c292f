"""BatchNorm statistics that describe the weights they are used with, and the evidence when they do not.

Why (measured on the lab case of issue 19: EfficientNet-Lite0 from scratch, 393 Kermany training images
at 64 px, batch 32, 3 epochs = 39 steps): in eval mode every validation score fell in a 0.015 range
(logit std 0.02; balanced accuracy 0.50, the majority answer), while the *same weights* with batch
statistics (train mode) scored balanced accuracy 0.67 (logit std 1.7), and after recomputing the
running statistics for the final weights, eval mode scored balanced accuracy 0.85 and AUC 0.90. The
weights had learned; the running statistics had not caught up. They are an exponential average over
the steps, with two errors after few steps: what is left of their start value (variance 1; the first
BatchNorm's true input variance was 0.05, its running variance still 0.064 after 39 steps) and the
statistics of weights that have since changed. Each eval-mode BatchNorm then divides by a too-large
variance (val batch variance / running variance: 0.58 at the first layer, 0.03 in block 8, 0.007 at
the last), the shrinkage compounds through ~50 layers, and what reaches the head is nearly the same
vector for every image.

The fix (``recalibrate``): after each epoch in which BatchNorm trains, recompute every running
statistic as the plain average over training batches run through the final weights ("precise BN",
Wu & Johnson 2021, *Rethinking "Batch" in BatchNorm*), before the epoch is validated. Only the
BatchNorm layers run in train mode (no dropout, no random draws, so no random stream moves), on
unaugmented training images, at the training batch size.

``mode_gap`` measures the train/eval gap on the validation split for a cell whose eval-mode
predictions are (near-)constant; result.json keeps it and the ``eval_mode_gap`` finding words it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.batches import batch_indices
from ..describe import metrics

MAX_BATCHES = 100  # enough batches for stable statistics (the precise-BN paper uses ~10³ images) at bounded cost
CONSTANT_RANGE = 1e-3  # eval scores spanning less than this are a constant answer (checks.COLLAPSE_SCORE_RANGE)


def _bns(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def trains_bn(model: nn.Module) -> bool:
    """Whether any BatchNorm with running statistics has trainable parameters in the current stage."""
    return any(p.requires_grad for m in _bns(model) for p in m.parameters())


@contextlib.contextmanager
def _bn_only_train(model: nn.Module, bns: list[nn.Module]):
    """BatchNorm layers in train mode (batch statistics), every other layer in eval mode (no dropout, no
    stochastic depth, so no random stream moves). The root keeps the training flag: for the BatchNorm
    layers this is a training-time pass, and hooks on the model (OOM fault injection) see it as one."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    model.training = True
    for m in bns:
        m.train()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.train(mode)


@torch.no_grad()
def recalibrate(model: nn.Module, batches: Any, *, max_batches: int = MAX_BATCHES) -> int:
    """Replace the running statistics of every BatchNorm that trains by their average over ``batches``
    (an iterable of model inputs) under the current weights; returns how many batches were used."""
    bns = [m for m in _bns(model) if any(p.requires_grad for p in m.parameters())]
    if not bns:
        return 0
    momenta = {m: m.momentum for m in bns}
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: every batch counts equally
    used = 0
    try:
        with _bn_only_train(model, bns):
            for x in batches:
                model(x)
                used += 1
                if used >= max_batches:
                    break
    finally:
        for m, mom in momenta.items():
            m.momentum = mom
    return used


def recalibration_batches(fwd: Any, split: Any, *, device: torch.device, batch_size: int) -> Any:
    """Unaugmented training batches in a fixed order spread over the split (no random stream is drawn)."""
    n = len(split.labels)
    order = np.arange(n)
    if n > MAX_BATCHES * batch_size:  # an evenly spaced subset, the same every epoch
        order = np.linspace(0, n - 1, MAX_BATCHES * batch_size).round().astype(np.int64)
    for idx in batch_indices(len(order), batch_size, shuffle=False):
        yield fwd.inputs(split, order[idx], device=device, augment="none", generator=None)


def near_constant(probs: np.ndarray) -> bool:
    """One predicted class for every image, or scores that span less than :data:`CONSTANT_RANGE`."""
    if not len(probs):
        return False
    spread = float((probs.max(axis=0) - probs.min(axis=0)).max())
    return spread < CONSTANT_RANGE or len(set(probs.argmax(axis=1).tolist())) == 1


@torch.no_grad()
def mode_gap(model: nn.Module, fwd: Any, split: Any, *, device: torch.device, batch_size: int,
             eval_probs: np.ndarray, to_probs: Any) -> dict[str, Any]:
    """The same weights on the validation split in eval mode (running statistics, as scored) and with batch
    statistics (BatchNorm in train mode, its buffers put back afterwards): scores' range, logit spread,
    balanced accuracy and AUC of each, and the last BatchNorm's val-batch / running variance ratio."""
    bns = _bns(model)
    saved = {m: (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bns}
    last: dict[str, float] = {}
    hook = None
    if bns:
        def capture(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
            x = inp[0].float()
            dims = [0] + list(range(2, x.dim()))
            last["ratio"] = float((x.var(dim=dims) / m.running_var.float().clamp_min(1e-12)).median())
        hook = bns[-1].register_forward_hook(capture)
    logits: list[torch.Tensor] = []
    try:
        model.eval()
        first = fwd.inputs(split, np.arange(min(len(split.labels), 256)), device=device, augment="none",
                           generator=None)
        model(first)  # eval mode: the last BatchNorm's input variance against its running variance
        ratio = last.get("ratio")
        with _bn_only_train(model, bns):
            for idx in batch_indices(len(split.labels), batch_size, shuffle=False):
                logits.append(model(fwd.inputs(split, idx, device=device, augment="none", generator=None)).float())
    finally:
        if hook is not None:
            hook.remove()
        for m, (mean, var, n) in saved.items():
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(n)
        model.eval()
    train_logits = torch.cat(logits)
    train_probs = to_probs(train_logits).cpu().double().numpy()

    def describe(probs: np.ndarray) -> dict[str, float | None]:
        m = metrics.summarize(split.labels, probs, class_names=[str(i) for i in range(probs.shape[1])], n_boot=0)
        return {"score_range": float((probs.max(axis=0) - probs.min(axis=0)).max()),
                "balanced_accuracy": m["balanced_accuracy"], "auc": m["auc"],
                "predicted_classes": len(set(probs.argmax(axis=1).tolist()))}

    return {"split": "val", "batch_size": batch_size, "eval": describe(eval_probs),
            "train_mode": describe(train_probs), "train_mode_logit_std": float(train_logits.std(dim=0).mean()),
            "last_bn_var_ratio": ratio}
