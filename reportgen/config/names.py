"""Backbone names without importing torch: a typo in the TOML is reported in well under a second.

``validate`` checks names here first (torchvision's import alone takes seconds); preflight checks them
again against the installed torchvision. ``tests/unit/test_names_fast.py`` compares these tuples with
``torchvision.models.list_models`` and the lite/baseline registries, so an upgrade that adds or drops a
model fails a test instead of silently disagreeing.
"""

from __future__ import annotations

import difflib

# torchvision.models.list_models(module=torchvision.models), torchvision 0.29
TORCHVISION_CLASSIFIERS = (
    'alexnet', 'convnext_base', 'convnext_large', 'convnext_small', 'convnext_tiny', 'densenet121',
    'densenet161', 'densenet169', 'densenet201', 'efficientnet_b0', 'efficientnet_b1', 'efficientnet_b2',
    'efficientnet_b3', 'efficientnet_b4', 'efficientnet_b5', 'efficientnet_b6', 'efficientnet_b7',
    'efficientnet_v2_l', 'efficientnet_v2_m', 'efficientnet_v2_s', 'googlenet', 'inception_v3', 'maxvit_t',
    'mnasnet0_5', 'mnasnet0_75', 'mnasnet1_0', 'mnasnet1_3', 'mobilenet_v2', 'mobilenet_v3_large',
    'mobilenet_v3_small', 'regnet_x_16gf', 'regnet_x_1_6gf', 'regnet_x_32gf', 'regnet_x_3_2gf',
    'regnet_x_400mf', 'regnet_x_800mf', 'regnet_x_8gf', 'regnet_y_128gf', 'regnet_y_16gf', 'regnet_y_1_6gf',
    'regnet_y_32gf', 'regnet_y_3_2gf', 'regnet_y_400mf', 'regnet_y_800mf', 'regnet_y_8gf', 'resnet101',
    'resnet152', 'resnet18', 'resnet34', 'resnet50', 'resnext101_32x8d', 'resnext101_64x4d', 'resnext50_32x4d',
    'shufflenet_v2_x0_5', 'shufflenet_v2_x1_0', 'shufflenet_v2_x1_5', 'shufflenet_v2_x2_0', 'squeezenet1_0',
    'squeezenet1_1', 'swin_b', 'swin_s', 'swin_t', 'swin_v2_b', 'swin_v2_s', 'swin_v2_t', 'vgg11', 'vgg11_bn',
    'vgg13', 'vgg13_bn', 'vgg16', 'vgg16_bn', 'vgg19', 'vgg19_bn', 'vit_b_16', 'vit_b_32', 'vit_h_14',
    'vit_l_16', 'vit_l_32', 'wide_resnet101_2', 'wide_resnet50_2',
)
LITE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")  # models/lite.py VARIANTS
BASELINES = ("mlp", "smallcnn")  # models/baselines.py BUILDERS: no pretrained weights


def known_names() -> list[str]:
    return sorted(TORCHVISION_CLASSIFIERS) + sorted(LITE + BASELINES)


def is_baseline(name: str) -> bool:
    return name in BASELINES


def close_names(name: str) -> list[str]:
    """Up to three known names close to ``name`` (case-insensitive: "ResNet18" finds "resnet18")."""
    options = known_names()
    lowered = {o.lower(): o for o in options}
    if name.lower() in lowered:
        return [lowered[name.lower()]]
    return difflib.get_close_matches(name, options, n=3, cutoff=0.5)


# Names people bring from other tools (Keras, timm, notebooks) for keys we spell differently: suggested
# before the closest spelling.
SYNONYMS = {"learning_rate": "lr", "num_epochs": "epochs", "n_epochs": "epochs", "bs": "batch_size",
            "wd": "weight_decay", "lr_scheduler": "scheduler", "early_stopping_patience": "patience",
            "image_size": "input_size", "img_size": "input_size", "pretrained": "weights", "model": "name",
            "arch": "name", "seed": "seeds", "aug": "augment", "augmentation": "augment", "optim": "optimizer"}


def did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    """``did you mean "x"?`` for a near miss among ``options`` (a known synonym first), or "" when none is close.

    The one suggestion of every config message (TOML keys, report sections, augment ops): torch-free.
    """
    if SYNONYMS.get(word) in options:
        return f'did you mean "{SYNONYMS[word]}"?'
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else ""
