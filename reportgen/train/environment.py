"""Where a run trains and what it runs on: the device (checked before the store changes) and the versions and
hardware recorded in every cell's ``env.json``."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..errors import ConfigError


def pick_device(requested: str | None = None) -> torch.device:
    """The device to train on; a name torch does not know, or a GPU this machine lacks, is a ConfigError."""
    if not requested or requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fix = "use --device auto (a GPU when there is one), cpu, cuda or cuda:N"
    try:
        dev = torch.device(requested)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {requested!r}", key="--device", expected="auto, cpu, cuda or cuda:N",
                          fix=fix) from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(dev.type, False):
        raise ConfigError(f"device {requested!r} is not available on this machine", key="--device",
                          expected="a device this machine has (" + ", ".join(k for k, v in available.items() if v)
                          + ")", fix=fix)
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"there is no {requested} (this machine has {torch.cuda.device_count()} GPU(s))",
                          key="--device", expected=f"cuda:0 … cuda:{torch.cuda.device_count() - 1}", fix=fix)
    return dev


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware, so every number in the report can be traced to what produced it."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                                  check=True).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None

    return {
        "reportgen": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": __import__("torchvision").__version__, "numpy": np.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(), "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain")) if git("rev-parse", "HEAD") else None,
    }
