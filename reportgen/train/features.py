"""A frozen cell's cached features: the backbone runs once over every image and the head trains on its outputs.

Exact only when the model's output is the head's output and nothing before the head trains (the cell runner
checks the second; :func:`head_inputs` checks the first on the first batch and returns None otherwise).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..data.batches import batch_indices
from ..models.backbones import BuiltModel
from .device import backoff
from .loop import Forward, Split


def head_inputs(model: BuiltModel, split: Split, *, device: torch.device, batch_size: int,
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
