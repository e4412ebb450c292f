"""What training needs from the device beyond arithmetic: OOM back-off, epoch snapshots, global flags.

These paths matter on a GPU but must be provable without one, so each is a small function that
tests drive on CPU by fault injection (a forward pre-hook that raises ``torch.OutOfMemoryError``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

log = logging.getLogger(__name__)
T = TypeVar("T")


# --------------------------------------------------------------------------- OOM back-off
def backoff(attempt: Callable[[int], T], batch_size: int, *, what: str,
            before_retry: Callable[[], None] | None = None) -> tuple[T, int, int]:
    """Run ``attempt(batch_size)``, halving the batch after each out-of-memory error.

    Returns ``(result, batch size that worked, retries)``. The retry happens *outside* the
    ``except`` block: while an exception is being handled, its traceback keeps every frame of
    the failed attempt alive, and with them the batch, activations and gradients, so
    ``empty_cache()`` inside the handler could free nothing. ``before_retry`` puts the state the
    attempt mutates (weights, optimizer, RNG) back to where it started.
    """
    retries = 0
    while True:
        try:
            return attempt(batch_size), batch_size, retries
        except torch.OutOfMemoryError:
            if batch_size <= 1:
                raise
        # Here the exception and its frames are gone: what they held can really be freed.
        batch_size //= 2
        retries += 1
        release_memory()
        if before_retry is not None:
            before_retry()
        log.warning("out of memory during %s: retrying with batch size %d", what, batch_size)


def release_memory() -> None:
    gc.collect()  # reference cycles (e.g. in autograd graphs of the failed attempt) first
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- epoch snapshot
def _to_cpu(obj: Any) -> Any:
    """A deep copy with every tensor on the host (a snapshot must not double GPU memory)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


@dataclass
class EpochStart:
    """Everything one training epoch mutates, as it was when the epoch began.

    Restoring it makes a retried epoch the epoch it would have been with the smaller batch from
    the start: the same weights (BatchNorm statistics included), optimizer moments, scheduler
    position, GradScaler scale and random streams (shuffle order, augmentation, dropout).
    """

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    scaler: dict[str, Any] | None
    generators: list[torch.Tensor]
    cpu_rng: torch.Tensor
    cuda_rng: torch.Tensor | None
    device: torch.device | None = None

    @classmethod
    def capture(cls, model: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                scaler: torch.amp.GradScaler | None, generators: list[torch.Generator],
                device: torch.device | None = None) -> EpochStart:
        # The RNG of the GPU that trains, only: touching every visible GPU's would start a context on each.
        cuda = device is not None and device.type == "cuda"
        return cls(model=_to_cpu(model.state_dict()), optimizer=_to_cpu(opt.state_dict()),
                   scheduler=None if sched is None else _to_cpu(sched.state_dict()),
                   scaler=None if scaler is None else _to_cpu(scaler.state_dict()),
                   generators=[g.get_state() for g in generators], cpu_rng=torch.get_rng_state(),
                   cuda_rng=torch.cuda.get_rng_state(device) if cuda else None, device=device if cuda else None)

    def restore(self, model: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                scaler: torch.amp.GradScaler | None, generators: list[torch.Generator]) -> None:
        model.load_state_dict(self.model)
        opt.load_state_dict(self.optimizer)  # casts the moments back to each parameter's device
        opt.zero_grad(set_to_none=True)
        if sched is not None and self.scheduler is not None:
            sched.load_state_dict(self.scheduler)
        if scaler is not None and self.scaler is not None:
            scaler.load_state_dict(self.scaler)
        for g, state in zip(generators, self.generators, strict=False):
            g.set_state(state)
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state(self.cuda_rng, self.device)


# --------------------------------------------------------------------------- process environment
CUBLAS_WORKSPACE = ":4096:8"


def set_cublas_workspace(deterministic: bool) -> None:
    """Before any CUDA use in this process: cuBLAS is deterministic only with a fixed workspace (CUDA
    docs, "Reproducibility"), and it reads ``CUBLAS_WORKSPACE_CONFIG`` when its handle is created, so
    setting it once a cell has started may be too late. Call it when the process knows its cells,
    before it picks a device; a user's own value is kept."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


# --------------------------------------------------------------------------- global flags
@contextlib.contextmanager
def torch_flags(*, deterministic: bool, device: torch.device) -> Iterator[None]:
    """Set torch's process-wide flags for one cell and put the previous values back afterwards.

    ``use_deterministic_algorithms`` and the cuDNN flags are global: a deterministic cell must
    not leave the next cell (or a test, or a notebook calling reportgen) deterministic and slow.
    """
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    try:
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            if "CUBLAS_WORKSPACE_CONFIG" not in os.environ and torch.cuda.is_initialized():
                log.warning("CUBLAS_WORKSPACE_CONFIG was not set before CUDA started: cuBLAS may not be "
                            "deterministic in this process (set_cublas_workspace was not called first)")
            # Set for what starts CUDA later in this process (the launchers set it first: see above).
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        # cuDNN autotuning picks the fastest kernels for fixed input shapes (ours are): off only
        # when asked for bit-reproducibility.
        torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2], saved[3]
        if saved[4] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[4]
