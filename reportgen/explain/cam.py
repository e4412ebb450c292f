"""Grad-CAM through pytorch-grad-cam, on a model exactly as it was scored (eval mode, best weights).

Two traps this module exists for. A frozen (or warm-up) cell has ``requires_grad=False`` on the
backbone, so the target layer's output has no gradient and the CAM is silently empty or crashes
(pytorch-grad-cam#254): gradients are switched on for the duration of the CAM and every flag is put
back afterwards. And Grad-CAM needs autograd, so it must never run under ``torch.no_grad()`` or
inference mode: it runs under ``torch.enable_grad()`` whatever the caller holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .targets import TargetSpec, reshape_fn, resolve

METHOD = "GradCAM"


class MissingPackage(RuntimeError):
    """pytorch-grad-cam is not importable: the report says how to install it."""


@dataclass
class CamResult:
    maps: np.ndarray  # float32 (N, H, W) in [0, 1] at input resolution (pytorch-grad-cam's scaling)
    layer: str  # absolute module path of the target layer
    grid: list[int]  # the target layer's spatial size (h, w): what the CAM can resolve at most


class _ClassTarget:
    """The score of class ``c``; a one-logit (BCE) model scores class 1 by its logit and class 0 by minus it."""

    def __init__(self, c: int) -> None:
        self.c = c

    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        if out.shape[-1] == 1:
            return out[..., 0] if self.c == 1 else -out[..., 0]
        return out[..., self.c]


@contextlib.contextmanager
def gradients_enabled(model: nn.Module) -> Iterator[None]:
    """Every parameter requires grad, the model is in eval mode; flags, mode and ``.grad`` restored after."""
    flags = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        for p, _, _ in flags:
            p.requires_grad_(True)
        model.eval()
        # Some backward kernels (CUDA adaptive pooling) have no deterministic form; a CAM is a picture, not a metric.
        torch.use_deterministic_algorithms(False)
        with torch.enable_grad():
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        for p, req, grad in flags:
            p.requires_grad_(req)
            p.grad = grad
        for m, training in modes:
            m.train(training)


@contextlib.contextmanager
def target_layer(model: nn.Module, spec: TargetSpec) -> Iterator[tuple[str, nn.Module]]:
    """The module to hook and its name; a ``method`` spec wraps that method's output in an identity probe."""
    if not spec.method:
        yield resolve(model, spec.path)
        return
    original = getattr(model, spec.path)
    probe = nn.Identity()
    # An instance attribute shadows the class's method; the model's own forward calls it unchanged.
    setattr(model, spec.path, lambda *a, **k: probe(original(*a, **k)))
    try:
        yield f"{spec.path}()", probe
    finally:
        delattr(model, spec.path)


def grad_cam(model: nn.Module, inputs: torch.Tensor, targets: list[int], spec: TargetSpec) -> CamResult:
    """Grad-CAM maps of ``inputs`` (normalized model inputs) for class ``targets[i]`` of image ``i``."""
    try:
        from pytorch_grad_cam import GradCAM
    except ImportError as exc:
        raise MissingPackage(str(exc)) from None
    shapes: list[tuple[int, ...]] = []
    with target_layer(model, spec) as (layer_name, layer):
        hook = layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)) if not shapes else None)
        try:
            with gradients_enabled(model), GradCAM(model=model, target_layers=[layer],
                                                   reshape_transform=reshape_fn(spec.reshape)) as cam:
                maps = cam(input_tensor=inputs, targets=[_ClassTarget(c) for c in targets])
        finally:
            hook.remove()
    shape = shapes[0] if shapes else ()
    grid = ([shape[1], shape[2]] if spec.reshape == "nhwc" else
            [int(round((shape[1] - 1) ** 0.5))] * 2 if spec.reshape == "vit_tokens" else list(shape[2:4]))
    return CamResult(maps=np.asarray(maps, dtype=np.float32), layer=layer_name, grid=[int(g) for g in grid])
