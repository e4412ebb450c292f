"""Scale: the input pipeline alone, inline vs the local launcher, and the hw4 matrix projected onto GPUs.

- **pipeline** — images/s delivered as normalized, augmented 224 px batches of 128: reportgen's
  decode-once cache (``load_batch`` + ``to_model_input``) against the seeds' ``ImageFolder`` + PIL
  transforms + ``DataLoader`` on this machine's cores, set against what one GPU consumes in training
  (timm's published numbers). On a GPU the seeds' loop is bound by decoding, not by compute.
- **launcher** — a 4-cell matrix through ``reportgen run`` inline vs ``--launcher local --jobs 2``.
- **hw4 projection** — per-cell costs measured here, projected onto 1 and 8 GPUs. A projection, not a
  measurement: every assumption is written next to the numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import ROOT, Progress, _env, _timer
from bench.training import _toml

# One GPU's training appetite, from timm's benchmark tables (train_samples_per_sec; AMP, NCHW,
# PyTorch 1.12, CUDA 11.3, one RTX 3090). timm has no ShuffleNet: MobileNetV3-Small 1.0 (2.5 M
# params, 0.06 GMACs) is the nearest small network in the table and stands in for it.
TIMM_SOURCE = ("timm (huggingface/pytorch-image-models) results/benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv, "
               "column train_samples_per_sec: AMP, NCHW, PyTorch 1.12, CUDA 11.3, one RTX 3090")
TIMM_URL = ("https://github.com/huggingface/pytorch-image-models/blob/main/results/"
            "benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv")
TIMM_TRAIN = {
    "resnet50": {"images_per_s": 826.06, "batch_size": 512, "img_size": 224},
    "mobilenetv3_small_100": {"images_per_s": 5749.13, "batch_size": 512, "img_size": 224,
                              "stands_in_for": "shufflenet_v2_x0_5 (not in timm)"},
    "efficientnet_b2": {"images_per_s": 799.96, "batch_size": 256, "img_size": 256},
}

# The hw4 lab (experiments/hw4.toml) on the full Kermany set: 5,216 train + 16 val folded together and
# a 10 % stratified val carved (min_val_size = 100), 624 test; 224 px; 10 epochs; patience ignored.
HW4 = {"n_train": 4709, "n_val": 523, "n_test": 624, "size": 224, "epochs": 10,
       "backbones": {"shufflenet_v2_x0_5": 32, "efficientnet_b2": 16},  # batch sizes from hw4.toml
       "strategies": ("finetune", "frozen", "scratch"),
       "gpu_rate_from": {"shufflenet_v2_x0_5": "mobilenetv3_small_100", "efficientnet_b2": "efficientnet_b2"}}


# --------------------------------------------------------------------------- the input pipeline
def pipeline_throughput(images: Path, classes: list[str], work: Path, *, size: int = 224, batch_size: int = 128,
                        reportgen_epochs: int = 8, baseline_epochs: int = 2, workers: int = 2, device: str = "cpu",
                        progress: Progress = lambda s: None) -> dict[str, Any]:
    """Images/s of normalized, augmented batches: reportgen's cache vs the seeds' PIL + DataLoader loop."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from reportgen.config import load_experiment
    from reportgen.data.batches import augment_generator, batch_indices, load_batch, to_model_input
    from reportgen.models.backbones import IMAGENET
    from reportgen.train.preflight import preflight

    dev = torch.device(device)
    cuda = dev.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    work.mkdir(parents=True, exist_ok=True)
    toml = work / "pipeline.toml"
    toml.write_text(_toml(images=images, classes=classes, runs=work / "runs", backbone="resnet50", weights="none",
                          size=size, epochs=1, frozen_epochs=1, batch_size=batch_size, lr=1e-3,
                          strategies=("scratch",), name="pipeline"), encoding="utf-8")
    out: dict[str, Any] = {"size": size, "batch_size": batch_size, "device": device, "cpus": _cpus(),
                           "decode": {}, "reportgen": {}, "seeds_loop": {}}
    progress(f"pipeline: decoding the train split once at {size} px (cold cache)")
    with _env("REPORTGEN_CACHE_DIR", str(work / "cache")):
        ds = preflight(load_experiment(toml)).datasets["bench"]
        with _timer(out["decode"]):
            split = ds.decoded(size)["train"]
    n = len(split.labels)
    out["n_images"] = n
    out["decode"]["images_per_s"] = n / out["decode"]["wall_s"]
    aug_gen = augment_generator(0, dev) if cuda else torch.Generator().manual_seed(0)
    for augment in ("flips", "medical"):
        progress(f"pipeline: reportgen cache → {augment} batches of {batch_size}, {reportgen_epochs} epochs")
        order = torch.Generator().manual_seed(0)
        to_model_input(load_batch(split.images, np.arange(min(n, batch_size)), device=dev), IMAGENET,
                       augment=augment, generator=aug_gen)  # first-call costs out of the timing
        rec: dict[str, Any] = {}
        with _timer(rec):
            for _ in range(reportgen_epochs):
                for idx in batch_indices(n, batch_size, shuffle=True, generator=order):
                    to_model_input(load_batch(split.images, idx, device=dev), IMAGENET, augment=augment,
                                   generator=aug_gen)
            sync()
        rec["images_per_s"] = n * reportgen_epochs / rec["wall_s"]
        out["reportgen"][augment] = rec

    progress(f"pipeline: seeds' ImageFolder + PIL + DataLoader ({workers} workers), {baseline_epochs} epochs")
    tf = transforms.Compose([transforms.Grayscale(num_output_channels=3), transforms.RandomHorizontalFlip(),
                             transforms.Resize((size, size)), transforms.ToTensor(),
                             transforms.Normalize(IMAGENET.mean, IMAGENET.std)])
    loader = DataLoader(datasets.ImageFolder(str(images / "train"), transform=tf), batch_size=batch_size,
                        shuffle=True, num_workers=workers, pin_memory=cuda)
    rec = {"num_workers": workers, "transforms": "Grayscale(3), RandomHorizontalFlip, Resize, ToTensor, Normalize"}
    with _timer(rec):
        for _ in range(baseline_epochs):
            for x, _y in loader:
                x.to(dev, non_blocking=True)
        sync()
    rec["images_per_s"] = n * baseline_epochs / rec["wall_s"]
    out["seeds_loop"]["flips"] = rec

    rg, seeds = out["reportgen"]["flips"]["images_per_s"], rec["images_per_s"]
    out["reportgen_over_seeds"] = rg / seeds
    out["gpu_appetite"] = {"source": TIMM_SOURCE, "url": TIMM_URL, "models": {
        name: {**m, "reportgen_fraction": rg / m["images_per_s"], "seeds_loop_fraction": seeds / m["images_per_s"]}
        for name, m in TIMM_TRAIN.items()}}
    return out


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# --------------------------------------------------------------------------- inline vs local launcher
def _launcher_toml(folder: Path, name: str) -> Path:
    from tests.tinyexp import tiny_experiment  # the tests' tiny experiment (bench runs from the checkout)

    return tiny_experiment(folder, file=f"{name}.toml", name=name, seeds=[0, 1], strategies=["finetune", "scratch"],
                           report={"title": "launcher bench", "language": "en"}, dataset={"max_train_samples": 800},
                           train={"batch_size": 64, "augment": "flips"})


def launcher_compare(work: Path, *, device: str, jobs: int = 2, progress: Progress = lambda s: None) -> dict[str, Any]:
    """Wall time of a 4-cell matrix: ``reportgen run`` inline vs ``--launcher local --jobs 2`` (fresh caches)."""
    cli = [sys.executable, "-m", "reportgen.cli"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    helptext = subprocess.run([*cli, "run", "--help"], capture_output=True, text=True, env=env, cwd=ROOT,
                              check=False).stdout
    if "--launcher" not in helptext:
        return {"skipped": "launcher not available: `reportgen run --help` lists no --launcher option"}
    out: dict[str, Any] = {"cells": 4, "jobs": jobs, "device": device, "cpus": _cpus()}
    for mode, extra in (("inline", []), ("local", ["--launcher", "local", "--jobs", str(jobs)])):
        d = work / mode
        d.mkdir(parents=True, exist_ok=True)
        toml = _launcher_toml(d, "matrix")
        progress(f"launcher: 4 cells, {mode} {' '.join(extra)}".rstrip())
        rec: dict[str, Any] = {"command": ["reportgen", "run", str(toml), "--no-progress", "--no-checkpoints",
                                           "--device", device, *extra]}
        with _timer(rec):
            proc = subprocess.run([*cli, *rec["command"][1:]], capture_output=True, text=True, cwd=ROOT,
                                  env={**env, "REPORTGEN_CACHE_DIR": str(d / "cache")}, check=False)
        rec["returncode"] = proc.returncode
        rec["cells_done"] = len(list((d / "runs" / "matrix" / "cells").glob("*/result.json")))
        if proc.returncode != 0:
            rec["stderr_tail"] = proc.stderr[-2000:]
        out[mode] = rec
    ok = all(out[m]["returncode"] == 0 and out[m]["cells_done"] == 4 for m in ("inline", "local"))
    out["local_over_inline"] = out["local"]["wall_s"] / out["inline"]["wall_s"] if ok else None
    return out


# --------------------------------------------------------------------------- hw4 projection
def step_costs(backbone: str, *, size: int, batch_size: int, device: str, reps: int) -> dict[str, Any]:
    """Seconds per image of one training step and of one eval forward, measured on ``device``."""
    import torch.nn.functional as F

    from reportgen.models.backbones import WeightsChoice, build_model
    from reportgen.train.loop import amp_dtype

    dev = torch.device(device)
    dtype = amp_dtype("auto", dev)
    cl = dev.type == "cuda"
    torch.manual_seed(0)
    model = build_model(backbone, WeightsChoice("none"), num_outputs=2, input_size=size).model.to(dev)
    if cl:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch_size, 3, size, size, device=dev)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.zeros(batch_size, dtype=torch.long, device=dev)
    autocast = (lambda: torch.autocast(dev.type, dtype=dtype)) if dtype else (lambda: torch.autocast("cpu", enabled=False))

    def sync() -> None:
        if cl:
            torch.cuda.synchronize(dev)

    def train_step() -> None:
        with autocast():
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def eval_step() -> None:
        with torch.inference_mode(), autocast():
            model(x)

    out: dict[str, Any] = {"backbone": backbone, "size": size, "batch_size": batch_size, "device": device,
                           "dtype": None if dtype is None else str(dtype).removeprefix("torch.")}
    for name, fn, mode in (("train", train_step, True), ("eval", eval_step, False)):
        model.train(mode)
        fn()  # first-call costs (allocation, kernel selection) out of the timing
        sync()
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        out[f"{name}_s_per_image"] = (time.perf_counter() - start) / (reps * batch_size)
    return out


def _cell_seconds(strategy: str, t_train: float, t_eval: float, overhead: float) -> float:
    n, e = HW4, HW4["epochs"]
    if strategy == "frozen":  # cached features: the backbone runs once over every split; the head is free
        return (n["n_train"] + n["n_val"] + n["n_test"]) * t_eval + overhead
    return e * (n["n_train"] * t_train + n["n_val"] * t_eval) + n["n_test"] * t_eval + overhead


def _makespan(cells: list[float], slots: int) -> float:
    """Longest-processing-time-first onto ``slots`` devices, one cell per device at a time."""
    loads = [0.0] * slots
    for c in sorted(cells, reverse=True):
        loads[loads.index(min(loads))] += c
    return max(loads)


def hw4_projection(costs: dict[str, dict[str, Any]], *, overhead_s: float, decode_images_per_s: float | None,
                   device: str) -> dict[str, Any]:
    """The hw4 matrix (2 backbones × 3 strategies × 10 epochs, 224 px) on this device and on 1 and 8 GPUs."""
    cuda = device.startswith("cuda")
    n_images = HW4["n_train"] + HW4["n_val"] + HW4["n_test"]
    decode_s = n_images / decode_images_per_s if decode_images_per_s else 0.0
    here: dict[str, float] = {}
    gpu: dict[str, float] = {}
    rates: dict[str, Any] = {}
    for backbone in HW4["backbones"]:
        c = costs[backbone]
        for strategy in HW4["strategies"]:
            here[f"{backbone}/{strategy}"] = _cell_seconds(strategy, c["train_s_per_image"], c["eval_s_per_image"],
                                                           overhead_s)
        if cuda:
            t_train, t_eval, how = c["train_s_per_image"], c["eval_s_per_image"], "measured on this GPU"
        else:
            ref = TIMM_TRAIN[HW4["gpu_rate_from"][backbone]]
            # timm's rate at its own image size, scaled to 224 px by pixel count.
            rate = ref["images_per_s"] * (ref["img_size"] / HW4["size"]) ** 2
            t_train, t_eval = 1 / rate, 1 / (3 * rate)
            how = (f"timm's {HW4['gpu_rate_from'][backbone]} training rate {ref['images_per_s']:g} img/s at "
                   f"{ref['img_size']} px → {rate:.0f} img/s at 224 px; eval = 1/3 of a training step")
        rates[backbone] = {"train_images_per_s": 1 / t_train, "eval_images_per_s": 1 / t_eval, "from": how}
        for strategy in HW4["strategies"]:
            gpu[f"{backbone}/{strategy}"] = _cell_seconds(strategy, t_train, t_eval, overhead_s)
    return {
        "kind": "projection — computed from measured per-cell costs, not a measured run",
        "matrix": {k: v for k, v in HW4.items() if k != "gpu_rate_from"},
        "assumptions": [
            "cells run whole, one per device at a time (the local launcher's model), longest first",
            (f"per-cell fixed cost {overhead_s:.1f} s (measured: the bench's fine-tune cell wall minus its "
             "epochs: build, MAC count, scoring, bootstrap CIs, files)"),
            (f"one decode of all {n_images} images into the cache: {decode_s:.0f} s at the measured decode rate, "
             "paid once per machine before the cells"),
            "all 10 epochs run (early stopping would only shorten cells); augmentation runs on the device",
            "frozen cells use cached features: one backbone pass over every split, head training negligible",
        ],
        "per_image_costs_here": costs,
        "gpu_rates": rates,
        "cells_s_here": here,
        "cells_s_gpu": gpu,
        "this_device_s": decode_s + sum(here.values()),
        "gpus": {str(k): decode_s + _makespan(list(gpu.values()), k) for k in (1, 8)},
        "device_measured": device,
    }
