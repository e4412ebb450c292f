"""Small from-scratch baselines, the kind students bring from an earlier lab (report 000's MLP).

They have no pretrained weights, so only the ``scratch`` strategy applies to them.
"""

from __future__ import annotations

from torch import nn


def mlp(*, input_size: int = 28, in_chans: int = 3, num_classes: int = 1000) -> nn.Module:
    """A 4-layer MLP on the flattened image."""
    d = in_chans * input_size * input_size
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(d, 512), nn.ReLU(inplace=True), nn.Dropout(0.2),
        nn.Linear(512, 256), nn.ReLU(inplace=True), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(inplace=True),
        nn.Linear(128, num_classes),
    )


def smallcnn(*, input_size: int = 28, in_chans: int = 3, num_classes: int = 1000) -> nn.Module:
    """Four conv–BN–ReLU blocks with pooling, global average pooling and a linear head."""
    layers: list[nn.Module] = []
    c = in_chans
    for width in (32, 64, 128, 256):
        layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2, ceil_mode=True)]
        c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


BUILDERS = {"mlp": mlp, "smallcnn": smallcnn}
