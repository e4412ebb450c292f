"""Human names for datasets and backbones in prose ("ResNet-18", not ``resnet18``).

A name the user gave (``label`` in ``[[backbones]]`` / ``[[datasets]]``) always wins; otherwise
torchvision's and MedMNIST's own spellings, and the identifier itself as the last resort.
"""

from __future__ import annotations

import re
from typing import Any

_FAMILIES = [
    (r"resnet(\d+)", lambda m: f"ResNet-{m[1]}"),
    (r"resnext(\d+)_(\d+)x(\d+)d", lambda m: f"ResNeXt-{m[1]} {m[2]}×{m[3]}d"),
    (r"wide_resnet(\d+)_(\d+)", lambda m: f"Wide ResNet-{m[1]}-{m[2]}"),
    (r"densenet(\d+)", lambda m: f"DenseNet-{m[1]}"),
    (r"vgg(\d+)(_bn)?", lambda m: f"VGG-{m[1]}" + (" BN" if m[2] else "")),
    (r"efficientnet_b(\d)", lambda m: f"EfficientNet-B{m[1]}"),
    (r"efficientnet_v2_([sml])", lambda m: f"EfficientNetV2-{m[1].upper()}"),
    (r"efficientnet_lite(\d)", lambda m: f"EfficientNet-Lite{m[1]}"),
    (r"shufflenet_v2_x(\d)_(\d)", lambda m: f"ShuffleNet V2 x{m[1]}.{m[2]}"),
    (r"mobilenet_v2", lambda m: "MobileNet V2"),
    (r"mobilenet_v3_(small|large)", lambda m: f"MobileNet V3 {m[1].capitalize()}"),
    (r"mnasnet(\d)_(\d+)", lambda m: f"MnasNet {m[1]}.{m[2]}"),
    (r"convnext_(tiny|small|base|large)", lambda m: f"ConvNeXt-{m[1].capitalize()}"),
    (r"regnet_([xy])_(\w+)", lambda m: f"RegNet{m[1].upper()}-{m[2].upper()}"),
    (r"vit_([bhl])_(\d+)", lambda m: f"ViT-{m[1].upper()}/{m[2]}"),
    (r"swin_v2_([tsb])", lambda m: f"Swin V2-{m[1].upper()}"),
    (r"swin_([tsb])", lambda m: f"Swin-{m[1].upper()}"),
    (r"maxvit_t", lambda m: "MaxViT-T"),
    (r"squeezenet(\d)_(\d)", lambda m: f"SqueezeNet {m[1]}.{m[2]}"),
    (r"googlenet", lambda m: "GoogLeNet"),
    (r"inception_v3", lambda m: "Inception V3"),
    (r"alexnet", lambda m: "AlexNet"),
    (r"mlp", lambda m: "MLP"),
    (r"smallcnn", lambda m: "small CNN"),
]


def _declared(kind: str, name: str, exp: dict[str, Any]) -> str | None:
    for entry in exp.get(kind, []) or []:
        if entry.get("name") == name and entry.get("label"):
            return str(entry["label"])
    return None


def backbone_label(name: str, exp: dict[str, Any] | None = None) -> str:
    declared = _declared("backbones", name, exp or {})
    if declared:
        return declared
    for pattern, fmt in _FAMILIES:
        m = re.fullmatch(pattern, name)
        if m:
            return fmt(m)
    return name


def dataset_label(name: str, exp: dict[str, Any] | None = None) -> str:
    declared = _declared("datasets", name, exp or {})
    if declared:
        return declared
    m = re.fullmatch(r"([a-z]+)mnist(3d)?", name)
    if m:  # MedMNIST's own spelling: PneumoniaMNIST, BreastMNIST, OrganAMNIST ...
        return m[1].capitalize() + "MNIST" + ("3D" if m[2] else "")
    return name
