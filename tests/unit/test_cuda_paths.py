"""The CUDA paths on a real GPU (marked ``gpu``: skipped by default and where there is no CUDA).

Run with ``.venv/bin/python -m pytest -q -m gpu tests/unit/test_cuda_paths.py`` on a machine with a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reportgen.config import TRAIN_KEYS
from reportgen.data.batches import augment_generator, load_batch, to_model_input
from reportgen.models.backbones import WeightsChoice, build_model
from reportgen.train.loop import Forward, LoopConfig, Split, amp_dtype, fit
from tests.conftest import DEMO_NPZ

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda")


def _splits() -> tuple[Split, Split]:
    d = np.load(DEMO_NPZ)
    x, y = d["train_images"][:, None], d["train_labels"][:, 0].astype(np.int64)
    return Split(images=x[:256], labels=y[:256]), Split(images=x[256:384], labels=y[256:384])


def _fit(*, channels_last: bool, amp: str):
    torch.manual_seed(0)
    built = build_model("resnet18", WeightsChoice("none"), num_outputs=2, input_size=32)
    model = built.model.to(CUDA)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    t = {k: v[0] for k, v in TRAIN_KEYS.items()}
    t.update({"epochs": 2, "batch_size": 64, "scheduler": "none", "augment": "medical", "patience": 0,
              "amp": amp, "selection_metric": "val_loss"})
    seen: list[tuple[torch.dtype, bool]] = []
    model.conv1.register_forward_hook(
        lambda m, i, o: seen.append((o.dtype, i[0].is_contiguous(memory_format=torch.channels_last))))
    tr, va = _splits()
    lc = LoopConfig(strategy="finetune", train=t, num_classes=2, device=CUDA, seed=0)
    res = fit(Forward(module=model, norm=built.normalization, channels_last=channels_last),
              head_path=built.head_path, train=tr, val=va, cfg=lc, full_model=model)
    return res, seen


def test_bf16_autocast_step_on_cuda() -> None:
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    res, seen = _fit(channels_last=False, amp="auto")
    assert amp_dtype("auto", CUDA) is torch.bfloat16 and res.amp_dtype == "bfloat16"
    assert {d for d, _ in seen} == {torch.bfloat16}
    assert all(np.isfinite(r["train_loss"]) for r in res.epochs) and res.epochs[0]["peak_mem_mb"] > 0


def test_channels_last_inputs_and_model_on_cuda() -> None:
    res, seen = _fit(channels_last=True, amp="off")
    assert seen and all(cl for _, cl in seen)
    assert all(np.isfinite(r["train_loss"]) for r in res.epochs)


@pytest.mark.parametrize("augment", ["none", "flips", "medical"])
def test_input_pipeline_never_waits_for_the_gpu(augment: str) -> None:
    """Pinned non-blocking copy, normalization constants and random draws on the device: no sync."""
    from reportgen.models.backbones import IMAGENET

    images = np.load(DEMO_NPZ)["train_images"][:256, None]
    gen = augment_generator(0, CUDA)
    to_model_input(load_batch(images, np.arange(64), device=CUDA), IMAGENET, augment=augment, generator=gen)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for start in range(0, 256, 64):
            x = to_model_input(load_batch(images, np.arange(start, start + 64), device=CUDA), IMAGENET,
                               augment=augment, generator=gen, channels_last=True)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert x.device.type == "cuda" and x.shape == (64, 3, 28, 28)


def _fit_resumable(resume=None, saved=None):
    import copy

    torch.manual_seed(0)
    built = build_model("smallcnn", WeightsChoice("none"), num_outputs=2, input_size=28)
    model = built.model.to(CUDA)
    t = {k: v[0] for k, v in TRAIN_KEYS.items()}
    t.update({"epochs": 2, "batch_size": 64, "scheduler": "none", "augment": "medical", "patience": 0,
              "amp": "off", "selection_metric": "val_loss"})
    tr, va = _splits()
    lc = LoopConfig(strategy="scratch", train=t, num_classes=2, device=CUDA, seed=0)
    return fit(Forward(module=model, norm=built.normalization), head_path=built.head_path, train=tr, val=va,
               cfg=lc, full_model=model, resume=resume,
               checkpoint=None if saved is None else (lambda s: saved.append(copy.deepcopy(s))))


def test_resume_on_cuda_restores_the_device_augmentation_stream() -> None:
    """The CUDA augmentation generator is in the checkpoint: a resumed epoch 2 draws what the whole run drew."""
    states: list[dict] = []
    whole = _fit_resumable(saved=states)
    assert states[0]["rng"]["aug_generator"] is not None and states[0]["rng"]["device_rng"] is not None
    resumed = _fit_resumable(resume=states[0])
    assert resumed.epochs[1]["train_loss"] == whole.epochs[1]["train_loss"]


def test_cuda_peak_memory_is_per_cell() -> None:
    from reportgen.train.memory import PeakMemory

    peaks = []
    for mb in (512, 64):
        meter = PeakMemory(CUDA)
        block = torch.empty(mb * 2**20, dtype=torch.uint8, device=CUDA)
        del block
        peaks.append(meter.close())
    assert meter.kind == "cuda_max_allocated"
    assert peaks[0] >= 512 and peaks[1] < 512
