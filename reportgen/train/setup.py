"""What a cell's training is built from: the loss, optimizer and scheduler of its ``[train]`` settings,
class and sampler weights, mixed precision, and the probability / likelihood conventions every
evaluation shares. Pure functions of a :class:`~reportgen.config.TrainConfig`; :mod:`.loop` runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..describe.classmetrics import sample_losses


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16. On CPU only when asked for: ``amp = "bf16"``.

    ``auto`` leaves the CPU in fp32 (CPU autocast is slower on most CPUs); an explicit ``bf16``
    runs ``torch.autocast("cpu", dtype=torch.bfloat16)``, which is also how the mixed-precision
    path is tested on machines without a GPU.
    """
    if mode == "off":
        return None
    if device.type == "cpu":
        return torch.bfloat16 if mode == "bf16" else None
    if device.type != "cuda":
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights n / (K · n_c), so a balanced dataset gets all ones."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    w = len(labels) / (num_classes * np.maximum(counts, 1))
    return torch.tensor(w, dtype=torch.float32)


def sampler_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class weight of one image for the weighted sampler: 1 / n_c, so every class is drawn equally often."""
    counts = np.bincount(labels, minlength=num_classes)
    return 1.0 / np.maximum(counts, 1)


def make_loss(cfg: TrainConfig, *, weights: torch.Tensor | None, device: torch.device) -> Callable:
    cfg = TrainConfig.from_mapping(cfg)
    w = None if weights is None else weights.to(device)
    if cfg.loss == "bce":
        # One logit for the positive class (index 1); the class weight becomes pos_weight.
        pos_weight = None if w is None else (w[1] / w[0]).view(1)

        def bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(logits.view(-1).float(), y.float(), pos_weight=pos_weight)

        return bce

    def ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, weight=w, label_smoothing=cfg.label_smoothing)

    return ce


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    cfg = TrainConfig.from_mapping(cfg)
    lr, wd = cfg.lr, cfg.weight_decay
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd, nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    cfg = TrainConfig.from_mapping(cfg)
    kind = cfg.scheduler
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    if kind == "plateau":
        mode = "min" if cfg.selection_metric == "val_loss" else "max"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=cfg.gamma,
                                                          patience=max(1, cfg.patience // 2))
    return None


def to_probs(logits: torch.Tensor, *, bce: bool) -> torch.Tensor:
    # float64: a weak model's outputs can differ only in the 7th digit, and float32 (or rounding)
    # there ties scores whose ranking decides its AUC.
    if bce:
        p = torch.sigmoid(logits.double().view(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(logits.double(), dim=1)


def nll(labels: np.ndarray, probs: np.ndarray) -> float:
    """Plain negative log-likelihood, the mean of ``-log p[y]`` over the split: the same quantity as the
    test ``loss`` in metrics.json (``classmetrics.sample_losses``), whatever the class weights, label
    smoothing or the batch size of the evaluation. (The training criterion is ``train_objective``.)"""
    return float(sample_losses(np.asarray(labels), np.asarray(probs)).mean()) if len(labels) else float("nan")
