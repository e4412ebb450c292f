"""(a) reportgen through the real runner and (b) the seeds' loop, on the same images and cells.

  (a) reportgen — a generated TOML through the real runner (``load_experiment`` + ``run_experiment``),
      decode-once cache cold at the start, decode timed on its own;
  (b) baseline — what the seed notebooks do: ``ImageFolder`` + PIL transforms every epoch through a
      ``DataLoader``, the frozen backbone run on every batch of every epoch.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Progress, _env, _rss_mb, _timer


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
    from reportgen.config import load_experiment
    from reportgen.train.preflight import preflight

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
    from reportgen.train.runner import run_experiment

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
                 seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """A seed-style loop: ImageFolder + PIL transforms every epoch, the whole model run on every batch.

    On a GPU the model and every batch go to ``device`` (``pin_memory`` + non-blocking copies, as a
    careful notebook would), so the comparison is GPU against GPU.
    """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, RandomSampler
    from torchvision import datasets, transforms

    from reportgen.models.backbones import build_model, resolve_weights

    rec: dict[str, Any] = {"strategy": strategy, "num_workers": workers}
    with _timer(rec):
        torch.manual_seed(seed)
        built = build_model(backbone, resolve_weights(backbone, weights), num_outputs=2, input_size=size)
        dev = torch.device(device)
        model = built.model.to(dev)
        norm = built.normalization
        pin = dev.type == "cuda"
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
        train_dl = DataLoader(train_ds, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=pin)
        val_dl = DataLoader(val_ds, batch_size=eval_batch_size, num_workers=workers, pin_memory=pin)
        test_dl = DataLoader(test_ds, batch_size=eval_batch_size, num_workers=workers, pin_memory=pin)

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
                    x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
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
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
            sched.step()
            acc = accuracy(val_dl)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
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
    from reportgen.config import load_experiment
    from reportgen.store import load_run
    from reportgen.train.runner import run_experiment

    work.mkdir(parents=True, exist_ok=True)
    toml = work / "seeds.toml"
    toml.write_text(_toml(images=Path(data["path"]), classes=data["classes"], runs=work / "runs", backbone=backbone,
                          weights=weights, size=size, epochs=epochs, frozen_epochs=1, batch_size=batch_size, lr=lr,
                          seeds=seeds, strategies=("finetune",), name="seeds"), encoding="utf-8")
    progress(f"seed study: reportgen fine-tune, seeds {list(seeds)}")
    with _env("REPORTGEN_CACHE_DIR", str(cache)):
        summary = run_experiment(load_experiment(toml), device=device, save_checkpoints=False)
    rg = {c.cell.seed: c.result.test["accuracy"] for c in load_run(summary.run_dir).cells}
    bl: dict[int, float] = {}
    for seed in seeds:
        progress(f"seed study: baseline fine-tune, seed {seed}")
        bl[seed] = run_baseline(Path(data["path"]), strategy="finetune", backbone=backbone, weights=weights,
                                size=size, epochs=epochs, batch_size=batch_size, eval_batch_size=eval_batch_size,
                                lr=lr, workers=workers, gray=gray, seed=seed, device=device)["test_accuracy"]
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




# --------------------------------------------------------------------------- matrices
def time_matrix(toml: Path, work: Path, *, device: str) -> dict[str, Any]:
    """Wall time of a whole experiment via ``run_experiment``, into ``work`` with an empty cache."""
    from reportgen.config import load_experiment
    from reportgen.errors import ReportgenError
    from reportgen.train.runner import run_experiment

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


