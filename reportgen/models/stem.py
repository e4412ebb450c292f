"""``stem = "small"``: ImageNet architectures on 28–64 px inputs.

An ImageNet stem (ResNet: 7×7 stride-2 conv + 3×3 stride-2 max-pool) shrinks a 28 px image to 7 px
before the first block, and the last stage sees 1×1. The usual fix for tiny inputs (as in CIFAR
ResNets and MedMNIST baselines) is a 3×3 stride-1 first conv and no max-pool. The new conv is
randomly initialised even when the rest of the network is pretrained (a 7×7 kernel does not map
onto a 3×3 one); families whose first conv is already 3×3 keep its weights with stride 1.
"""

from __future__ import annotations

from typing import Any

from torch import nn

# Name prefixes of the torchvision families with a stem this module knows how to shrink.
_RESNET = ("resnet", "resnext", "wide_resnet")
_FIRST_CONV_STRIDE = ("efficientnet", "mobilenet", "mnasnet", "regnet")
SUPPORTED = _RESNET + ("densenet", "shufflenet") + _FIRST_CONV_STRIDE  # efficientnet_lite* included


def stem_problem(name: str) -> str | None:
    """None if ``stem = "small"`` applies to backbone ``name``, else why not (for an exit-2 error at validate)."""
    if name.startswith(SUPPORTED):
        return None
    return (f"{name} has no small-input stem here (a patch-embedding, VGG-style or baseline stem): "
            "supported families are " + ", ".join(sorted(set(SUPPORTED))))


def _strided_first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    for path, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            return path, mod
    raise ValueError(f"no Conv2d in {type(model).__name__}")


def _set(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)


def apply_small_stem(model: nn.Module, name: str) -> dict[str, Any]:
    """Shrink ``model``'s stem in place; returns the record of what changed (``ArchRecord.stem``)."""
    problem = stem_problem(name)
    if problem:
        raise ValueError(problem)
    changes: list[str] = []
    random_init: list[str] = []
    recalibrate: list[str] = []  # the BatchNorm right after a random conv: its statistics described the old conv
    if name.startswith(_RESNET):
        old = model.conv1
        model.conv1 = nn.Conv2d(old.in_channels, old.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
        changes += [f"conv1: {old.kernel_size[0]}×{old.kernel_size[1]} stride {old.stride[0]} → 3×3 stride 1",
                    "maxpool → Identity"]
        random_init.append("conv1")
        recalibrate.append("bn1")
    elif name.startswith("densenet"):
        old = model.features.conv0
        model.features.conv0 = nn.Conv2d(old.in_channels, old.out_channels, kernel_size=3, stride=1, padding=1,
                                         bias=False)
        model.features.pool0 = nn.Identity()
        changes += [f"features.conv0: {old.kernel_size[0]}×{old.kernel_size[1]} stride {old.stride[0]} → "
                    "3×3 stride 1", "features.pool0 → Identity"]
        random_init.append("features.conv0")
        recalibrate.append("features.norm0")
    else:
        # 3×3 first convs (EfficientNet, MobileNet, MnasNet, RegNet, ShuffleNet, Lite): keep the
        # pretrained kernel, drop its stride (ShuffleNet also drops its max-pool).
        path, conv = _strided_first_conv(model)
        conv.stride = (1, 1)
        if isinstance(getattr(conv, "static_padding", None), nn.ZeroPad2d):
            # EfficientNet-Lite's "same" padding was computed for stride 2 (0, 1, 0, 1); stride 1 needs k // 2.
            conv.static_padding = nn.ZeroPad2d(conv.kernel_size[0] // 2)
        changes.append(f"{path}: stride 2 → 1 (weights kept)")
        if name.startswith("shufflenet"):
            model.maxpool = nn.Identity()
            changes.append("maxpool → Identity")
    return {"kind": "small", "changes": changes, "random_init": random_init,
            # What must train even in a head-only stage (strategies.head_only_paths): a frozen random conv
            # would put a fixed random projection in front of the pretrained features.
            "trainable_when_frozen": random_init + recalibrate}


def small_stem_kernel_path(name: str) -> str | None:
    """The state-dict key of the first conv that ``stem = "small"`` replaces by a new 3×3 one (None: kept)."""
    if name.startswith(_RESNET):
        return "conv1.weight"
    if name.startswith("densenet"):
        return "features.conv0.weight"
    return None
