"""Shared by the benchmarks: timing with CPU time and load average, machine facts, the bench images.

The benchmark lives in the repository, not in the installed package: it reads the repo's
``experiments/`` and ``data/`` and the real Kermany JPEGs in ``../shared/data``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]  # the repository (bench/ is not installed)
Progress = Callable[[str], None]


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
        for i, (img, lab) in enumerate(zip(images, labels, strict=False)):
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


