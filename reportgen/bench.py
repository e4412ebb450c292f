"""`reportgen bench`: reportgen against a plain seed-style loop and the compute ceiling, in one run.

Three ways to train the same cells on the same images, timed in one process so their ratios are
comparable even on a shared machine (load average and CPU time are recorded next to every number):

  (a) reportgen — a generated TOML through the real runner (``load_experiment`` + ``run_experiment``),
      decode-once cache cold at the start, decode timed on its own;
  (b) baseline — what the seed notebooks do: ``ImageFolder`` + PIL transforms every epoch through a
      ``DataLoader``, the frozen backbone run on every batch of every epoch;
  (c) ceiling — forward + backward + optimizer step of the same model on tensors already in memory.

On CUDA it also measures training images/s at 224 px (bf16, channels_last) for resnet18 and resnet50,
reportgen's ``fit`` against the ceiling, and the wall time of the hw4 matrix. Library code here
logs and returns dicts; only the click command at the bottom prints.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import platform
import resource
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
Progress = Callable[[str], None]

TARGETS = {"frozen_speedup_min": 10.0, "frozen_acc_diff_max_points": 1.0, "finetune_epoch_ratio_max": 1.15,
           "demo_wall_max_s": 300.0, "gpu_fraction_of_ceiling_min": 0.7}


# --------------------------------------------------------------------------- measuring
def _shared_data() -> Path:
    return Path(os.environ.get("REPORTGEN_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _rss_mb(field: str) -> float | None:
    """A field of /proc/self/status in MiB (RssAnon: what the process itself allocated)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@contextlib.contextmanager
def _timer(record: dict[str, Any]) -> Iterator[None]:
    """Wall time, CPU time (this process + children) and load average of a phase, into ``record``."""
    start, cpu, load = time.perf_counter(), os.times(), os.getloadavg()[0]
    yield
    end = os.times()
    record["wall_s"] = time.perf_counter() - start
    record["cpu_s"] = (end.user - cpu.user + end.system - cpu.system
                       + end.children_user - cpu.children_user + end.children_system - cpu.children_system)
    record["load_avg_1m"] = [load, os.getloadavg()[0]]


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def machine_info() -> dict[str, Any]:
    import torch

    cpu_name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_name = line.split(":", 1)[1].strip()
                break
    cuda = torch.cuda.is_available()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "torchvision": __import__("torchvision").__version__, "python": platform.python_version(),
        "cpu_name": cpu_name, "cuda": cuda, "device_name": torch.cuda.get_device_name(0) if cuda else cpu_name,
    }


# --------------------------------------------------------------------------- data
def prepare_images(dest: Path, *, n_images: int | None, test_fraction: float = 0.25, val_fraction: float = 0.15,
                   seed: int = 0) -> dict[str, Any]:
    """Real chest X-rays split deterministically into ``dest/{train,val,test}/<class>/``.

    The Kermany JPEGs from ../shared/data are used when present (decoding real JPEGs is part of
    what is measured); otherwise PneumoniaMNIST arrays are written out as PNGs. The val split is
    written as a folder so reportgen and the baseline select models on exactly the same images.
    """
    tar = _shared_data() / "kermany_chest_xray_224_test.tar"
    staging = dest / "_all"
    per_class: dict[str, list[Path]] = {}
    if tar.is_file():
        source = str(tar)
        with tarfile.open(tar) as tf:
            for m in tf.getmembers():
                parts = Path(m.name).parts
                if not m.isfile() or len(parts) < 2 or not m.name.lower().endswith((".jpeg", ".jpg", ".png")):
                    continue
                cls = parts[-2]
                out = staging / cls / Path(m.name).name  # flattened: no path from the archive is trusted
                out.parent.mkdir(parents=True, exist_ok=True)
                fh = tf.extractfile(m)
                assert fh is not None
                out.write_bytes(fh.read())
                per_class.setdefault(cls, []).append(out)
    else:
        from PIL import Image

        source = str(ROOT / "data" / "pneumoniamnist.npz")
        data = np.load(source)
        images = np.concatenate([data["train_images"], data["test_images"]])[:624]
        labels = np.concatenate([data["train_labels"], data["test_labels"]])[:624, 0]
        for i, (img, lab) in enumerate(zip(images, labels)):
            cls = ("normal", "pneumonia")[int(lab)]
            out = staging / cls / f"{i:05d}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(out)
            per_class.setdefault(cls, []).append(out)
    classes = sorted(per_class)
    total = sum(len(v) for v in per_class.values())
    rng = np.random.default_rng(seed)
    counts: dict[str, dict[str, int]] = {s: {} for s in ("train", "val", "test")}
    nbytes = 0
    for cls in classes:
        files = sorted(per_class[cls])
        keep = len(files) if not n_images else max(3, round(n_images * len(files) / total))
        files = [files[i] for i in sorted(rng.permutation(len(files))[:keep])]
        order = rng.permutation(len(files))
        n_test = max(1, round(test_fraction * len(files)))
        n_val = max(1, round(val_fraction * len(files)))
        for rank, i in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            target = dest / split / cls / files[i].name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(files[i], target)
            nbytes += target.stat().st_size
            counts[split][cls] = counts[split].get(cls, 0) + 1
    shutil.rmtree(staging, ignore_errors=True)
    return {"source": source, "path": str(dest), "classes": classes, "counts": counts,
            "n": {s: sum(c.values()) for s, c in counts.items()}, "file_bytes": nbytes}


# --------------------------------------------------------------------------- (a) reportgen
def _toml(*, images: Path, classes: list[str], runs: Path, backbone: str, weights: str, size: int, epochs: int,
          frozen_epochs: int, batch_size: int, lr: float, seeds: tuple[int, ...] = (0,),
          strategies: tuple[str, ...] = ("frozen", "finetune"), name: str = "bench") -> str:
    cls = ", ".join(json.dumps(c) for c in classes)
    return f"""
[experiment]
name = "{name}"
output_dir = {json.dumps(str(runs))}
seeds = {json.dumps(list(seeds))}
strategies = {json.dumps(list(strategies))}

[report]
title = "reportgen bench"
language = "en"

[[datasets]]
name = "bench"
kind = "folder"
path = {json.dumps(str(images))}
classes = [{cls}]
min_val_size = 1   # the val/ folder is used as written, so the baseline sees the same split

[[backbones]]
name = "{backbone}"
weights = "{weights}"
input_size = {size}

[train]
optimizer = "adamw"
lr = {lr!r}
weight_decay = 1e-4
batch_size = {batch_size}
epochs = {epochs}
scheduler = "cosine"
selection_metric = "val_acc"
augment = "none"
""" + (f"""
[overrides.strategy.frozen]
epochs = {frozen_epochs}
""" if "frozen" in strategies else "")


def _epochs_csv(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def decode_for_reportgen(work: Path, data: dict[str, Any], *, backbone: str, weights: str, size: int, epochs: int,
                         frozen_epochs: int, batch_size: int, lr: float, progress: Progress) -> tuple[Any, dict]:
    """Write the bench TOML, validate it and decode every split into a fresh cache (timed: it is cold)."""
    from .config import load_experiment
    from .preflight import preflight

    work.mkdir(parents=True, exist_ok=True)
    toml = work / "bench.toml"
    toml.write_text(_toml(images=Path(data["path"]), classes=data["classes"], runs=work / "runs", backbone=backbone,
                          weights=weights, size=size, epochs=epochs, frozen_epochs=frozen_epochs,
                          batch_size=batch_size, lr=lr), encoding="utf-8")
    cache = work / "tensor-cache"
    rec: dict[str, Any] = {}
    with _env("REPORTGEN_CACHE_DIR", str(cache)):
        exp = load_experiment(toml)
        ds = preflight(exp).datasets["bench"]
        progress(f"(a) reportgen: decoding {sum(data['n'].values())} images at {size} px (cold cache)")
        anon_before = _rss_mb("RssAnon")
        with _timer(rec):
            decoded = ds.decoded(size)
    rec["rss_anon_delta_mb"] = None if anon_before is None else (_rss_mb("RssAnon") or 0.0) - anon_before
    rec["cache_mb"] = sum(f.stat().st_size for f in cache.glob("*.npy")) / 2**20
    rec["decoded_bytes_mb"] = sum(d.images.nbytes for d in decoded.values()) / 2**20
    rec["memmapped"] = all(isinstance(d.images, np.memmap) for d in decoded.values())
    # A copy in memory for the ceiling: the same pixels, no file behind them.
    arrays = {s: (np.array(d.images), np.array(d.labels)) for s, d in decoded.items()}
    return exp, {"decode": rec, "arrays": arrays, "cache": cache}


def run_reportgen(exp: Any, cache: Path, *, device: str) -> dict[str, Any]:
    """The frozen and fine-tune cells through the real runner (the cache already holds the decoded splits)."""
    from .train.runner import run_experiment

    out: dict[str, Any] = {"run": {}}
    with _env("REPORTGEN_CACHE_DIR", str(cache)), _timer(out["run"]):
        summary = run_experiment(exp, device=device, save_checkpoints=False)
    for cell_id in summary.trained:
        cdir = summary.run_dir / "cells" / cell_id
        result = json.loads((cdir / "result.json").read_text(encoding="utf-8"))
        rows = _epochs_csv(cdir / "epochs.csv")
        strategy = json.loads((cdir / "cell.json").read_text(encoding="utf-8"))["strategy"]
        secs = [float(r["seconds"]) for r in rows]
        out[strategy] = {"cell_id": cell_id, "wall_s": result["wall_time_s"], "train_time_s": result["train_time_s"],
                         "epochs_run": result["epochs_run"], "epoch_s": secs, "epoch_mean_s": float(np.mean(secs)),
                         "epoch_min_s": min(secs), "frozen_mode": result.get("frozen_mode"),
                         "test_accuracy": result["test"]["accuracy"], "best_epoch": result["best_epoch"]}
    return out


# --------------------------------------------------------------------------- (b) baseline
def run_baseline(images: Path, *, strategy: str, backbone: str, weights: str, size: int, epochs: int,
                 batch_size: int, eval_batch_size: int, lr: float, workers: int, gray: bool,
                 seed: int = 0) -> dict[str, Any]:
    """A seed-style loop: ImageFolder + PIL transforms every epoch, the whole model run on every batch."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, RandomSampler
    from torchvision import datasets, transforms

    from .models.backbones import build_model, resolve_weights

    rec: dict[str, Any] = {"strategy": strategy, "num_workers": workers}
    with _timer(rec):
        torch.manual_seed(seed)
        built = build_model(backbone, resolve_weights(backbone, weights), num_outputs=2, input_size=size)
        model = built.model
        norm = built.normalization
        tf = transforms.Compose([
            *([transforms.Grayscale(num_output_channels=3)] if gray else []),
            transforms.Resize((size, size)),
            transforms.ToTensor(),
            transforms.Normalize(norm.mean, norm.std),
        ])
        train_ds, val_ds, test_ds = (datasets.ImageFolder(str(images / s), transform=tf) for s in ("train", "val", "test"))
        # shuffle=True, with the sampler's own seeded generator: its torch.randperm stream is the one
        # reportgen's loop draws, so both see the same batches and accuracy differences are not noise.
        sampler = RandomSampler(train_ds, generator=torch.Generator().manual_seed(seed))
        train_dl = DataLoader(train_ds, batch_size=batch_size, sampler=sampler, num_workers=workers)
        val_dl = DataLoader(val_ds, batch_size=eval_batch_size, num_workers=workers)
        test_dl = DataLoader(test_ds, batch_size=eval_batch_size, num_workers=workers)

        frozen = strategy == "frozen"
        head = model.get_submodule(built.head_path)
        if frozen:
            for p in model.parameters():
                p.requires_grad = False
            for p in head.parameters():
                p.requires_grad = True
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

        def accuracy(loader: DataLoader) -> float:
            model.eval()
            right = seen = 0
            with torch.no_grad():
                for x, y in loader:
                    right += int((model(x).argmax(1) == y).sum())
                    seen += len(y)
            return right / seen

        best_acc, best_state, epoch_s = -1.0, None, []
        torch.manual_seed(seed)  # as reportgen's fit does: dropout draws the same numbers
        for _ in range(epochs):
            start = time.perf_counter()
            # A fixed feature extractor keeps BN statistics fixed (eval mode); the Linear head has
            # no mode. This is the function reportgen computes, so only where the work happens differs.
            model.train(not frozen)
            for x, y in train_dl:
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
            sched.step()
            acc = accuracy(val_dl)
            if acc > best_acc:
                best_acc, best_state = acc, copy.deepcopy(model.state_dict())
            epoch_s.append(time.perf_counter() - start)
        assert best_state is not None
        model.load_state_dict(best_state)
        test_acc = accuracy(test_dl)
    rec.update({"epoch_s": epoch_s, "epoch_mean_s": float(np.mean(epoch_s)), "epoch_min_s": min(epoch_s),
                "best_val_accuracy": best_acc,
                "test_accuracy": test_acc, "n_train": len(train_ds), "n_val": len(val_ds), "n_test": len(test_ds)})
    return rec


def finetune_seed_study(work: Path, data: dict[str, Any], cache: Path, *, seeds: tuple[int, ...], backbone: str,
                        weights: str, size: int, epochs: int, batch_size: int, eval_batch_size: int, lr: float,
                        workers: int, gray: bool, device: str, progress: Progress) -> dict[str, Any]:
    """Fine-tune test accuracy of reportgen and of the baseline over more seeds (accuracy only, not timed).

    A 3-epoch fine-tune on a few hundred images is a handful of optimizer steps: which seed (dropout
    masks, batch order) it gets moves test accuracy by many points. One seed per side cannot say whether
    the two loops learn the same thing; the spread over seeds can.
    """
    from .config import load_experiment
    from .store import load_run
    from .train.runner import run_experiment

    work.mkdir(parents=True, exist_ok=True)
    toml = work / "seeds.toml"
    toml.write_text(_toml(images=Path(data["path"]), classes=data["classes"], runs=work / "runs", backbone=backbone,
                          weights=weights, size=size, epochs=epochs, frozen_epochs=1, batch_size=batch_size, lr=lr,
                          seeds=seeds, strategies=("finetune",), name="seeds"), encoding="utf-8")
    progress(f"seed study: reportgen fine-tune, seeds {list(seeds)}")
    with _env("REPORTGEN_CACHE_DIR", str(cache)):
        summary = run_experiment(load_experiment(toml), device=device, save_checkpoints=False)
    rg = {int(c.cell["seed"]): c.result["test"]["accuracy"] for c in load_run(summary.run_dir).cells}
    bl: dict[int, float] = {}
    for seed in seeds:
        progress(f"seed study: baseline fine-tune, seed {seed}")
        bl[seed] = run_baseline(Path(data["path"]), strategy="finetune", backbone=backbone, weights=weights,
                                size=size, epochs=epochs, batch_size=batch_size, eval_batch_size=eval_batch_size,
                                lr=lr, workers=workers, gray=gray, seed=seed)["test_accuracy"]
    return {"seeds": list(seeds), "reportgen": rg, "baseline": bl}


def _seed_summary(study: dict[str, Any], first: tuple[float, float]) -> dict[str, Any]:
    """Mean ± sd per side (seed 0 from the timed cells included) and Welch's 95 % CI of the difference."""
    from scipy import stats

    rg = np.array([first[0], *study["reportgen"].values()]) * 100
    bl = np.array([first[1], *study["baseline"].values()]) * 100
    diff = rg.mean() - bl.mean()
    low, high = stats.ttest_ind(rg, bl, equal_var=False).confidence_interval(0.95)
    diff, low, high = float(diff), float(low), float(high)
    return {"n_seeds": len(rg), "reportgen_acc": rg.round(2).tolist(), "baseline_acc": bl.round(2).tolist(),
            "reportgen_mean": float(rg.mean()), "reportgen_sd": float(rg.std(ddof=1)),
            "baseline_mean": float(bl.mean()), "baseline_sd": float(bl.std(ddof=1)),
            "diff_points": diff, "diff_ci95": [low, high], "within_noise": bool(low <= 0 <= high)}


# --------------------------------------------------------------------------- warm-up
def warm_up(*, backbone: str, weights: str, size: int, batch_sizes: set[int], eval_batch_sizes: set[int],
            device: str) -> dict[str, Any]:
    """One training step and one eval forward at every batch shape the timed phases will use.

    The first step at a new shape pays one-time costs (oneDNN primitive creation, allocator growth,
    autograd threads): several seconds on a CPU. Whichever phase ran first would pay them, so they
    are paid here, timed, and kept out of every comparison.
    """
    import torch
    import torch.nn.functional as F

    from .models.backbones import build_model, resolve_weights

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


# --------------------------------------------------------------------------- (c) ceiling
class Ceiling:
    """Forward + backward + step of the fine-tuned model on pre-batched float tensors in memory.

    Epochs are run in two halves, before and after reportgen's cells, so a change in the machine's
    load during the run affects both sides of the ratio.
    """

    def __init__(self, arrays: dict[str, tuple[np.ndarray, np.ndarray]], *, backbone: str, weights: str,
                 size: int, batch_size: int, eval_batch_size: int, lr: float, device: str, seed: int = 0) -> None:
        import torch

        from .data.batches import to_model_input
        from .models.backbones import build_model, resolve_weights

        dev = torch.device(device)
        torch.manual_seed(seed)
        built = build_model(backbone, resolve_weights(backbone, weights), num_outputs=2, input_size=size)
        self.model = built.model.to(dev)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=1e-4)

        def batches(split: str, bs: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
            images, labels = arrays[split]
            x = to_model_input(torch.from_numpy(images), built.normalization).contiguous().to(dev)
            y = torch.from_numpy(labels).to(dev)
            return [(x[i:i + bs].clone(), y[i:i + bs]) for i in range(0, len(y), bs)]

        self.train, self.val = batches("train", batch_size), batches("val", eval_batch_size)
        self.n_train = sum(len(y) for _, y in self.train)
        self.train_s: list[float] = []
        self.val_s: list[float] = []

    def epoch(self) -> None:
        import torch
        import torch.nn.functional as F

        start = time.perf_counter()
        self.model.train()
        for x, y in self.train:
            self.opt.zero_grad(set_to_none=True)
            F.cross_entropy(self.model(x), y).backward()
            self.opt.step()
        mid = time.perf_counter()
        self.model.eval()
        with torch.inference_mode():
            for x, _ in self.val:
                self.model(x)
        self.train_s.append(mid - start)
        self.val_s.append(time.perf_counter() - mid)

    def summary(self) -> dict[str, Any]:
        epoch_s = [t + v for t, v in zip(self.train_s, self.val_s)]
        tr = float(np.mean(self.train_s))
        return {"train_epoch_s": self.train_s, "val_epoch_s": self.val_s, "epoch_s": epoch_s,
                "train_mean_s": tr, "val_mean_s": float(np.mean(self.val_s)), "epoch_mean_s": float(np.mean(epoch_s)),
                "epoch_min_s": min(epoch_s), "images_per_s": self.n_train / min(self.train_s), "n_train": self.n_train}


# --------------------------------------------------------------------------- GPU throughput
def _train_defaults(**over: Any) -> dict[str, Any]:
    from .config import TRAIN_KEYS

    cfg = {k: copy.deepcopy(default) for k, (default, _) in TRAIN_KEYS.items()}
    cfg.update(over)
    return cfg


def gpu_throughput(backbone: str, *, size: int = 224, n_train: int = 2048, n_val: int = 256,
                   batch_size: int = 128, epochs: int = 2) -> dict[str, Any]:
    """Training images/s (bf16, channels_last): reportgen's ``fit`` on a uint8 split vs the ceiling."""
    import torch
    import torch.nn.functional as F

    from .models.backbones import WeightsChoice, build_model
    from .train.loop import Forward, LoopConfig, Split, fit

    dev = torch.device("cuda")
    rng = np.random.default_rng(0)
    train = Split(images=rng.integers(0, 256, (n_train, 3, size, size), dtype=np.uint8),
                  labels=rng.integers(0, 2, n_train).astype(np.int64))
    val = Split(images=train.images[:n_val], labels=train.labels[:n_val])

    torch.manual_seed(0)
    built = build_model(backbone, WeightsChoice("none"), num_outputs=2, input_size=size)
    model = built.model.to(dev, memory_format=torch.channels_last)
    cfg = _train_defaults(epochs=epochs, batch_size=batch_size, eval_batch_size=batch_size, amp="bf16",
                          scheduler="none", augment="none", selection_metric="val_loss")
    lcfg = LoopConfig(strategy="finetune", train=cfg, num_classes=2, device=dev, seed=0)
    res = fit(Forward(module=model, norm=built.normalization, channels_last=True), head_path=built.head_path,
              train=train, val=val, cfg=lcfg, full_model=model)
    rg_epoch = min(r["seconds"] for r in res.epochs)  # the first epoch pays cuDNN autotuning and allocation

    torch.manual_seed(0)
    built = build_model(backbone, WeightsChoice("none"), num_outputs=2, input_size=size)
    model = built.model.to(dev, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.randn(batch_size, 3, size, size, device=dev, dtype=torch.bfloat16).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch_size,), device=dev)
    steps, val_steps = -(-n_train // batch_size), -(-n_val // batch_size)

    def epoch() -> float:
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.train()
        for _ in range(steps):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            for _ in range(val_steps):
                model(x)
        torch.cuda.synchronize()
        return time.perf_counter() - start

    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # the ceiling gets every advantage
    try:
        ceiling = min(epoch() for _ in range(epochs))
    finally:
        torch.backends.cudnn.benchmark = old
    return {"backbone": backbone, "size": size, "batch_size": batch_size, "n_train": n_train, "n_val": n_val,
            "reportgen_epoch_s": rg_epoch, "ceiling_epoch_s": ceiling,
            "reportgen_images_per_s": n_train / rg_epoch, "ceiling_images_per_s": n_train / ceiling,
            "fraction_of_ceiling": ceiling / rg_epoch, "note": "epoch = train on n_train + eval on n_val, both sides"}


# --------------------------------------------------------------------------- matrices
def time_matrix(toml: Path, work: Path, *, device: str) -> dict[str, Any]:
    """Wall time of a whole experiment via ``run_experiment``, into ``work`` with an empty cache."""
    from .config import load_experiment
    from .errors import ReportgenError
    from .train.runner import run_experiment

    rec: dict[str, Any] = {"toml": str(toml)}
    try:
        with _env("REPORTGEN_CACHE_DIR", str(work / "tensor-cache")):
            exp = load_experiment(toml)
            exp.output_dir = work / "runs"
            with _timer(rec):
                summary = run_experiment(exp, device=device, save_checkpoints=False)
    except ReportgenError as exc:  # e.g. hw4's data or weights are not on this machine
        rec["skipped"] = str(exc).splitlines()[0]
        return rec
    rec["cells"] = len(summary.trained)
    rec["cell_wall_s"] = {c: json.loads((summary.run_dir / "cells" / c / "result.json").read_text())["wall_time_s"]
                          for c in summary.trained}
    return rec


# --------------------------------------------------------------------------- the whole benchmark
def run_bench(*, size: int, backbone: str, epochs: int, frozen_epochs: int, batch_size: int, lr: float,
              device: str, n_images: int | None, baseline_workers: int, demo: bool,
              gpu_backbones: tuple[str, ...], hw4: bool, seeds: int = 1,
              progress: Progress = lambda s: None) -> dict[str, Any]:
    """Run (a), (b), (c) (+ demo, + GPU on CUDA) and return every measurement with ratios and verdicts."""
    import torch

    from .models.backbones import family

    start_load = os.getloadavg()
    weights = "offline" if family(backbone) == "lite" else "none"
    eval_bs = max(batch_size, 64)  # reportgen's eval batch size when none is configured
    out: dict[str, Any] = {"machine": machine_info(), "load_average_start": list(start_load),
                           "settings": {"size": size, "backbone": backbone, "weights": weights, "epochs": epochs,
                                        "frozen_epochs": frozen_epochs, "batch_size": batch_size,
                                        "eval_batch_size": eval_bs, "lr": lr, "optimizer": "adamw",
                                        "scheduler": "cosine", "selection_metric": "val_acc",
                                        "augment": "none", "device": device, "baseline_workers": baseline_workers},
                           "targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
        work = Path(tmp)
        progress("preparing images")
        data = prepare_images(work / "images", n_images=n_images)
        out["data"] = data

        n = data["n"]
        progress("warm-up: one step at every batch shape")
        out["warm_up"] = warm_up(backbone=backbone, weights=weights, size=size, device=device,
                                 batch_sizes={b for b in (batch_size, n["train"] % batch_size) if b},
                                 eval_batch_sizes={b for b in (eval_bs, *(v % eval_bs for v in n.values())) if b})
        exp, dec = decode_for_reportgen(work / "a", data, backbone=backbone, weights=weights, size=size,
                                        epochs=epochs, frozen_epochs=frozen_epochs, batch_size=batch_size, lr=lr,
                                        progress=progress)
        ceiling = Ceiling(dec["arrays"], backbone=backbone, weights=weights, size=size, batch_size=batch_size,
                          eval_batch_size=eval_bs, lr=lr, device=device)
        gray = dec["arrays"]["train"][0].shape[1] == 1
        del dec["arrays"]
        before = (epochs + 1) // 2
        progress(f"(c) ceiling: {before} fine-tune epoch(s) on in-memory tensors")
        for _ in range(before):
            ceiling.epoch()
        progress("(a) reportgen: frozen + finetune cells through run_experiment")
        out["reportgen"] = {"decode": dec["decode"], **run_reportgen(exp, dec["cache"], device=device)}
        progress(f"(c) ceiling: {epochs - before} more fine-tune epoch(s)")
        for _ in range(epochs - before):
            ceiling.epoch()
        out["ceiling"] = ceiling.summary()
        del ceiling
        for strategy, n_ep in (("frozen", frozen_epochs), ("finetune", epochs)):
            progress(f"(b) baseline {strategy}: {n_ep} epoch(s), PIL + DataLoader every epoch")
            out.setdefault("baseline", {})[strategy] = run_baseline(
                work / "images", strategy=strategy, backbone=backbone, weights=weights, size=size, epochs=n_ep,
                batch_size=batch_size, eval_batch_size=eval_bs, lr=lr, workers=baseline_workers, gray=gray)

        if seeds > 1:
            out["finetune_seeds"] = finetune_seed_study(
                work / "seeds", data, dec["cache"], seeds=tuple(range(1, seeds)), backbone=backbone, weights=weights,
                size=size, epochs=epochs, batch_size=batch_size, eval_batch_size=eval_bs, lr=lr,
                workers=baseline_workers, gray=gray, device=device, progress=progress)
        if demo:
            progress("demo matrix: experiments/demo.toml, empty cache")
            demo_toml = ROOT / "experiments" / "demo.toml"
            out["demo"] = (time_matrix(demo_toml, work / "demo", device=device) if demo_toml.is_file()
                           else {"skipped": f"{demo_toml} not found"})
        if torch.cuda.is_available() and device.startswith("cuda"):
            out["gpu"] = {"available": True, "throughput": []}
            for name in gpu_backbones:
                progress(f"GPU: {name} at 224 px, bf16 + channels_last")
                out["gpu"]["throughput"].append(gpu_throughput(name))
            if hw4:
                progress("GPU: hw4 matrix")
                out["gpu"]["hw4"] = time_matrix(ROOT / "experiments" / "hw4.toml", work / "hw4", device=device)
        else:
            out["gpu"] = {"available": False, "note": "no CUDA device on this machine"}
    out["peak_rss_mb"] = _peak_rss_mb()
    out["peak_rss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out["load_average_end"] = list(os.getloadavg())
    out["ratios"], out["verdicts"] = _ratios(out)
    return out


def _ratios(out: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rg, bl, ce = out["reportgen"], out["baseline"], out["ceiling"]
    decode_s = rg["decode"]["wall_s"]
    frozen_rg = rg["frozen"]["wall_s"] + decode_s  # the whole decode charged to this cell: conservative
    r: dict[str, Any] = {
        "frozen_speedup": bl["frozen"]["wall_s"] / frozen_rg,
        "frozen_speedup_without_decode": bl["frozen"]["wall_s"] / rg["frozen"]["wall_s"],
        "frozen_acc_diff_points": 100 * (rg["frozen"]["test_accuracy"] - bl["frozen"]["test_accuracy"]),
        "finetune_acc_diff_points": 100 * (rg["finetune"]["test_accuracy"] - bl["finetune"]["test_accuracy"]),
        # Fastest epoch over fastest epoch: on a shared machine the minimum is the least disturbed
        # estimate of each side; the means are kept next to it.
        "finetune_epoch_over_ceiling": rg["finetune"]["epoch_min_s"] / ce["epoch_min_s"],
        "finetune_epoch_mean_over_ceiling_mean": rg["finetune"]["epoch_mean_s"] / ce["epoch_mean_s"],
        "baseline_finetune_epoch_over_ceiling": bl["finetune"]["epoch_min_s"] / ce["epoch_min_s"],
        "finetune_cell_speedup": bl["finetune"]["wall_s"] / rg["finetune"]["wall_s"],
    }
    t = out["targets"]
    verdicts = [
        _verdict("frozen cell speedup vs baseline (incl. decode)", r["frozen_speedup"], f"≥ {t['frozen_speedup_min']:g}×",
                 r["frozen_speedup"] >= t["frozen_speedup_min"], "{:.1f}×"),
        _verdict("frozen test accuracy diff (points)", r["frozen_acc_diff_points"],
                 f"|Δ| ≤ {t['frozen_acc_diff_max_points']:g}",
                 abs(r["frozen_acc_diff_points"]) <= t["frozen_acc_diff_max_points"] + 1e-9, "{:+.2f}"),
        _verdict("fine-tune epoch / ceiling epoch (fastest, both incl. val)", r["finetune_epoch_over_ceiling"],
                 f"≤ {t['finetune_epoch_ratio_max']:g}",
                 r["finetune_epoch_over_ceiling"] <= t["finetune_epoch_ratio_max"], "{:.3f}"),
    ]
    if "finetune_seeds" in out:
        ss = _seed_summary(out["finetune_seeds"], (rg["finetune"]["test_accuracy"], bl["finetune"]["test_accuracy"]))
        out["finetune_seeds"]["summary"] = ss
        r["finetune_acc_diff_points_mean_over_seeds"] = ss["diff_points"]
        verdicts.append({"what": f"fine-tune test accuracy, reportgen − baseline, mean of {ss['n_seeds']} seeds (points)",
                         "value": ss["diff_points"],
                         "shown": f"{ss['diff_points']:+.1f} (95% CI {ss['diff_ci95'][0]:+.1f} to {ss['diff_ci95'][1]:+.1f})",
                         "target": "CI contains 0 (same learning, within seed noise)",
                         "status": "PASS" if ss["within_noise"] else "MISS"})
    demo = out.get("demo")
    if demo and "wall_s" in demo:
        r["demo_wall_s"] = demo["wall_s"]
        verdicts.append(_verdict("demo matrix wall time (s)", demo["wall_s"], f"≤ {t['demo_wall_max_s']:g}",
                                 demo["wall_s"] <= t["demo_wall_max_s"], "{:.0f}"))
    gpu = out.get("gpu", {})
    for g in gpu.get("throughput", []):
        verdicts.append(_verdict(f"GPU {g['backbone']} images/s fraction of ceiling", g["fraction_of_ceiling"],
                                 f"≥ {t['gpu_fraction_of_ceiling_min']:g}",
                                 g["fraction_of_ceiling"] >= t["gpu_fraction_of_ceiling_min"], "{:.2f}"))
    if "hw4" in gpu and "wall_s" in gpu["hw4"]:
        verdicts.append({"what": "hw4 matrix wall time (s)", "value": gpu["hw4"]["wall_s"],
                         "shown": f"{gpu['hw4']['wall_s']:.0f}", "target": "(recorded)", "status": "INFO"})
    return r, verdicts


def _verdict(what: str, value: float, target: str, ok: bool, fmt: str) -> dict[str, Any]:
    return {"what": what, "value": value, "shown": fmt.format(value), "target": target,
            "status": "PASS" if ok else "MISS"}


# --------------------------------------------------------------------------- output
def format_table(out: dict[str, Any]) -> str:
    """The human-readable summary (Markdown), the same text as bench.md."""
    s, rg, bl, ce, m = out["settings"], out["reportgen"], out["baseline"], out["ceiling"], out["machine"]
    n = out["data"]["n"]
    lines = [
        "# reportgen bench",
        "",
        (f"{m['device_name']} · {m['cpus_usable']} CPUs · torch {m['torch']} ({m['torch_threads']} threads) · "
        f"load average {out['load_average_start'][0]:.2f} at start, {out['load_average_end'][0]:.2f} at end"),
        (f"{s['backbone']} ({s['weights']}) at {s['size']} px, batch {s['batch_size']}, fine-tune {s['epochs']} "
        f"epoch(s), frozen {s['frozen_epochs']} epoch(s); images: {n['train']} train / {n['val']} val / "
        f"{n['test']} test from {Path(out['data']['source']).name}"),
        "",
        "| target | measured | goal | status |",
        "|---|---|---|---|",
        *[f"| {v['what']} | {v['shown']} | {v['target']} | {v['status']} |" for v in out["verdicts"]],
        "",
        "| timing | wall s | CPU s | test acc |",
        "|---|---|---|---|",
        f"| reportgen decode (cold cache, once) | {rg['decode']['wall_s']:.2f} | {rg['decode']['cpu_s']:.2f} | |",
        (f"| reportgen frozen cell ({rg['frozen']['frozen_mode']}) | {rg['frozen']['wall_s']:.2f} | | "
        f"{rg['frozen']['test_accuracy']:.4f} |"),
        (f"| baseline frozen loop | {bl['frozen']['wall_s']:.2f} | {bl['frozen']['cpu_s']:.2f} | "
        f"{bl['frozen']['test_accuracy']:.4f} |"),
        f"| reportgen fine-tune cell | {rg['finetune']['wall_s']:.2f} | | {rg['finetune']['test_accuracy']:.4f} |",
        (f"| baseline fine-tune loop | {bl['finetune']['wall_s']:.2f} | {bl['finetune']['cpu_s']:.2f} | "
        f"{bl['finetune']['test_accuracy']:.4f} |"),
        "",
        "| fine-tune epoch, incl. val | fastest s | mean s | epochs s |",
        "|---|---|---|---|",
        *[f"| {name} | {r['epoch_min_s']:.2f} | {r['epoch_mean_s']:.2f} | {' '.join(f'{e:.1f}' for e in r['epoch_s'])} |"
          for name, r in (("reportgen", rg["finetune"]), ("ceiling", ce), ("baseline", bl["finetune"]))],
        "",
        (f"Ceiling: {ce['images_per_s']:.1f} training images/s (train part {min(ce['train_epoch_s']):.2f} s, "
         f"val part {min(ce['val_epoch_s']):.2f} s). Warm-up paid before timing: {out['warm_up']['wall_s']:.1f} s. Frozen speedup without the decode: "
        f"{out['ratios']['frozen_speedup_without_decode']:.1f}×. "
        f"Fine-tune cell speedup vs baseline: {out['ratios']['finetune_cell_speedup']:.2f}×."),
        (f"Memory: peak RSS {out['peak_rss_mb']:.0f} MiB (child processes {out['peak_rss_children_mb']:.0f} MiB); "
        f"decode grew anonymous RSS by {rg['decode']['rss_anon_delta_mb'] or 0:.1f} MiB for a "
        f"{rg['decode']['cache_mb']:.1f} MiB memory-mapped cache ({out['data']['file_bytes'] / 2**20:.1f} MiB of "
        "image files)."),
    ]
    ss = (out.get("finetune_seeds") or {}).get("summary")
    if ss:
        lines.append(f"Fine-tune test accuracy over {ss['n_seeds']} seeds: reportgen {ss['reportgen_mean']:.1f} ± "
                     f"{ss['reportgen_sd']:.1f} % ({', '.join(f'{a:.1f}' for a in ss['reportgen_acc'])}), baseline "
                     f"{ss['baseline_mean']:.1f} ± {ss['baseline_sd']:.1f} % "
                     f"({', '.join(f'{a:.1f}' for a in ss['baseline_acc'])}).")
    demo = out.get("demo")
    if demo:
        lines.append(f"Demo matrix: {demo['wall_s']:.0f} s wall, {demo['cpu_s']:.0f} s CPU, {demo['cells']} cells."
                     if "wall_s" in demo else f"Demo matrix: skipped ({demo['skipped']}).")
    gpu = out["gpu"]
    if not gpu["available"]:
        lines.append(f"GPU: {gpu['note']}.")
    else:
        for g in gpu["throughput"]:
            lines.append(f"GPU {g['backbone']} @ {g['size']} px: reportgen {g['reportgen_images_per_s']:.0f} img/s, "
                         f"ceiling {g['ceiling_images_per_s']:.0f} img/s ({g['fraction_of_ceiling']:.2f}).")
        if "hw4" in gpu:
            h = gpu["hw4"]
            lines.append(f"hw4 matrix: {h['wall_s']:.0f} s wall." if "wall_s" in h else f"hw4: skipped ({h['skipped']}).")
    return "\n".join(lines) + "\n"


def write_outputs(out: dict[str, Any], dest: Path) -> tuple[Path, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    js, md = dest / "bench.json", dest / "bench.md"
    js.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    md.write_text(format_table(out), encoding="utf-8")
    return js, md


# --------------------------------------------------------------------------- command
@click.command("bench")
@click.option("--size", type=click.IntRange(min=8), default=None,
              help="Input size in px (default 64 on CPU, 224 on CUDA).")
@click.option("--backbone", default="efficientnet_lite0", show_default=True,
              help="Backbone for (a)/(b)/(c); Lite models use their offline ImageNet weights, others random init.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Fine-tune epochs (default 3).")
@click.option("--frozen-epochs", type=click.IntRange(min=1), default=None,
              help="Frozen-cell epochs (default 30, as in experiments/demo.toml).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size (default 64).")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--images", "n_images", type=click.IntRange(min=12), default=None,
              help="Use a stratified subset of this many images (default all 624).")
@click.option("--baseline-workers", type=click.IntRange(min=0), default=None,
              help="DataLoader workers of the baseline (default 0 on CPU, where workers compete with torch for 2 cores; 4 on CUDA).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:1 or auto.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=ROOT / "bench" / "out",
              help="Where bench.json and bench.md go (default bench/out).")
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Also time the whole demo matrix (experiments/demo.toml) from an empty cache.")
@click.option("--hw4/--no-hw4", default=True, show_default=True, help="On CUDA, also time experiments/hw4.toml.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Also fine-tune both loops with seeds 1..N-1 and compare test accuracy over the N seeds "
                   "(accuracy only; a few hundred images and 3 epochs leave seed-to-seed noise of many points).")
@click.option("--quick", is_flag=True, help="Tiny and fast (for tests): 60 images, 32 px, 1 epoch, no demo.")
def bench(size: int | None, backbone: str, epochs: int | None, frozen_epochs: int | None, batch_size: int | None,
          lr: float, n_images: int | None, baseline_workers: int | None, device: str, out_dir: Path, demo: bool,
          hw4: bool, seeds: int, quick: bool) -> None:
    """Time reportgen vs a plain DataLoader loop vs the compute ceiling; write bench/out/bench.{json,md}."""
    from .models.backbones import check_backbone_name
    from .train.runner import pick_device

    check_backbone_name(backbone)
    dev = str(pick_device(device))
    cuda = dev.startswith("cuda")
    if quick:
        size, epochs, frozen_epochs = size or 32, epochs or 1, frozen_epochs or 2
        batch_size, n_images, demo, hw4 = batch_size or 16, n_images or 60, False, False
    out = run_bench(size=size or (224 if cuda else 64), backbone=backbone, epochs=epochs or 3,
                    frozen_epochs=frozen_epochs or 30, batch_size=batch_size or 64, lr=lr, device=dev,
                    n_images=n_images, baseline_workers=baseline_workers if baseline_workers is not None
                    else (4 if cuda else 0), demo=demo,
                    gpu_backbones=() if quick else ("resnet18", "resnet50"), hw4=hw4, seeds=seeds,
                    progress=lambda s: click.echo(f"bench: {s}", err=True))
    out["quick"] = quick
    js, md = write_outputs(out, out_dir)
    click.echo(format_table(out))
    click.echo(f"wrote {js} and {md}")
