"""Grad-CAM target layers: the last convolutional feature map of each supported backbone family.

One small registry keyed by name prefix, so every backbone ``reportgen.models.backbones`` knows maps
to a layer (``tests/unit/test_explain_targets.py`` sweeps them all). The layer is the one the
pytorch-grad-cam README names per torchvision family; where a family's last module is a pooling
layer or an activation shared by several calls, the last module that owns the final feature map
is used instead (noted per entry). Transformers keep tokens, not maps: their ``reshape`` turns the
tokens back into a (B, C, H, W) grid.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class TargetSpec:
    path: str  # module path; integer parts index a Sequential/ModuleList (negative from the end)
    reshape: str | None = None  # None (B, C, H, W) | "nhwc" (Swin) | "vit_tokens" (ViT, class token first)
    # A method whose *return value* is the feature map (no module outputs it): the CAM hooks an identity
    # module wrapped around that method for its duration (``cam.probe``); ``path`` then names the method.
    method: bool = False


# Longest matching prefix wins, so "efficientnet_lite" is not taken for torchvision's "efficientnet".
_REGISTRY: dict[str, TargetSpec | str] = {
    "resnet": TargetSpec("layer4.-1"),
    "resnext": TargetSpec("layer4.-1"),
    "wide_resnet": TargetSpec("layer4.-1"),
    "vgg": TargetSpec("features.-1"),
    "densenet": TargetSpec("features.-1"),
    "mobilenet": TargetSpec("features.-1"),
    "efficientnet": TargetSpec("features.-1"),
    "convnext": TargetSpec("features.-1"),
    "mnasnet": TargetSpec("layers.-1"),
    "shufflenet": TargetSpec("conv5"),
    "regnet": TargetSpec("trunk_output.-1"),
    "squeezenet": TargetSpec("features.-1"),
    "alexnet": TargetSpec("features.-2"),  # features[-1] is the last max-pool; [-2] its ReLU (6×6 at 224 px)
    "googlenet": TargetSpec("inception5b"),
    "inception_v3": TargetSpec("Mixed_7c"),
    "maxvit": TargetSpec("blocks.-1"),
    "swin": TargetSpec("features.-1", reshape="nhwc"),
    "vit": TargetSpec("encoder.layers.-1.ln_1", reshape="vit_tokens"),
    # EfficientNet-Lite (efficientnet_lite_pytorch): extract_features ends conv head → _bn1 → swish. The
    # swish module is shared with the stem (called twice per forward) and _bn1 is before the activation
    # (Grad-CAM on a pre-activation map is mostly negative, so it clips to nothing): the CAM reads the
    # return value of extract_features, the head block's activated output.
    "efficientnet_lite": TargetSpec("extract_features", method=True),
    "smallcnn": TargetSpec("-5"),  # the ReLU of the last conv–BN–ReLU block (before its max-pool)
    "mlp": "an MLP has no spatial feature map to explain",
}


def target_spec(name: str) -> TargetSpec | str:
    """The target layer of backbone ``name``, or a sentence saying why it has none."""
    keys = [k for k in _REGISTRY if name.startswith(k)]
    if not keys:
        return f"no Grad-CAM target layer is registered for {name}"
    return _REGISTRY[max(keys, key=len)]


def resolve(model: nn.Module, path: str) -> tuple[str, nn.Module]:
    """The module at ``path`` and its absolute dotted name (negative indices made positive)."""
    mod, parts = model, []
    for part in path.split("."):
        if part.lstrip("-").isdigit():
            children = list(mod.named_children())
            name, mod = children[int(part)]
        else:
            name, mod = part, getattr(mod, part)
        parts.append(name)
    return ".".join(parts), mod


def reshape_fn(kind: str | None):
    """The reshape pytorch-grad-cam applies to activations and gradients (None: already B, C, H, W)."""
    if kind is None:
        return None
    if kind == "nhwc":
        return lambda t: t.permute(0, 3, 1, 2)
    if kind == "vit_tokens":
        def tokens(t):
            grid = t[:, 1:, :]  # drop the class token
            side = int(round(grid.shape[1] ** 0.5))
            return grid.reshape(t.shape[0], side, side, t.shape[2]).permute(0, 3, 1, 2)
        return tokens
    raise ValueError(f"unknown reshape {kind!r}")
