"""Architecture statistics: what ``arch.json`` records — parameter counts and MACs, beside the ImageNet weights'
published numbers (:mod:`.weights_meta`). The terminal table of ``reportgen inspect`` is :mod:`.inspect`.

MACs are counted twice. ``torch.utils.flop_counter.FlopCounterMode`` sees every matmul, convolution
and scaled-dot-product attention that actually runs, functional calls included (its FLOPs are 2×MACs);
it is how torchvision's published ``_ops`` are matched (resnet18 1.814 G, vit_b_32 4.409 G at 224).
fvcore's ``FlopCountAnalysis`` (whose "flops" are in fact MACs, fvcore#69) also counts BatchNorm,
pooling and upsampling, but misses ops it has no handler for — attention above all (vit_b_32: 2.95 G
of 4.41 G). The headline ``macs`` is fvcore's count unless the counter saw more (fvcore missed ops) or
fvcore failed; then it is the counter's, and ``macs_tool`` says which. torchinfo's ``total_mult_adds``
is a third, module-hook based cross-check; when it fails or returns nothing, that is recorded as a
note (``torchinfo_error``), never as a 0 that would read like a finding.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from .weights_meta import META_SIZE, weights_meta

log = logging.getLogger(__name__)

TOP_UNSUPPORTED = 5


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


def _counter_macs(model: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    # nn.MultiheadAttention's inference fast path is one fused op the counter has no formula for;
    # the regular path runs the same projections and attention through ops it does count.
    # Likewise the fused CPU attention kernels: the math backend computes attention as counted matmuls.
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel([SDPBackend.MATH]), counter:
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops()) // 2  # FLOPs = 2 × MACs


def _torchinfo_macs(model: nn.Module, x: torch.Tensor) -> int:
    import torchinfo

    stats = torchinfo.summary(model, input_data=x, verbose=0, device=x.device, mode="eval")
    return int(stats.total_mult_adds)


def _reason(exc: BaseException) -> str:
    # torchinfo wraps the real error ("Failed to run torchinfo ..."); the cause says what went wrong.
    exc = exc.__cause__ or exc
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# The counter beating fvcore by more than this means fvcore skipped ops that do run (attention);
# below it, the two differ only by what fvcore adds on top (BatchNorm, pooling, upsampling).
COUNTER_OVER_FVCORE = 1.01


def count_macs(model: nn.Module, input_size: int | tuple[int, int], *, in_chans: int = 3) -> dict[str, Any]:
    """MACs of one forward pass on a (1, in_chans, H, W) input, by fvcore and FlopCounterMode, + torchinfo.

    Never raises for a model that cannot be traced: the failing tool's number is ``None`` and its
    reason is in ``errors``. The model's per-module training flags are left as they were.

    Returns:
        ``{"macs", "tool": "fvcore" | "flop_counter", "macs_fvcore", "macs_counter", "macs_torchinfo",
        "unsupported_ops": {op: calls}, "errors": {tool: reason}, "input_size": [H, W]}``.
    """
    h, w = _hw(input_size)
    out: dict[str, Any] = {"macs": None, "tool": None, "macs_fvcore": None, "macs_counter": None,
                           "macs_torchinfo": None, "unsupported_ops": {}, "errors": {}, "input_size": [h, w]}
    x = torch.zeros(1, in_chans, h, w, device=_device(model))
    tools = (("fvcore", "macs_fvcore", _fvcore_macs), ("flop_counter", "macs_counter", _counter_macs),
             ("torchinfo", "macs_torchinfo", _torchinfo_macs))
    with _eval_mode(model), torch.no_grad(), warnings.catch_warnings():
        # jit tracing warns about every data-dependent branch; none of it is actionable here.
        warnings.simplefilter("ignore")
        for tool, key, fn in tools:
            try:
                value = fn(model, x)
                if tool == "fvcore":
                    value, out["unsupported_ops"] = value
                if not value:
                    # A tool that ran but saw no multiply-adds missed the model, it did not measure 0.
                    raise RuntimeError(f"{tool} counted 0 multiply-adds")
                out[key] = int(value)
            except Exception as exc:  # noqa: BLE001 - any model may fail to trace; report, don't crash
                out["errors"][tool] = _reason(exc)
                log.warning("%s could not count MACs at %dx%d: %s", tool, h, w, out["errors"][tool])
    fv, fc = out["macs_fvcore"], out["macs_counter"]
    if fv is not None and (fc is None or fc <= fv * COUNTER_OVER_FVCORE):
        out["macs"], out["tool"] = fv, "fvcore"
    elif fc is not None:
        out["macs"], out["tool"] = fc, "flop_counter"
    return out


# --------------------------------------------------------------------------- combined
def _published(model: nn.Module, counted: dict[str, Any], meta: dict[str, Any] | None,
               in_chans: int) -> dict[str, Any]:
    """The counted MACs at the weights' own crop size beside the published figure (GFLOPS, really GMACs)."""
    out: dict[str, Any] = {"macs_published": None, "macs_at_published_size": None, "published_size": None,
                           "macs_at_224_vs_meta": None}
    if not meta or not meta.get("gflops"):
        return out
    size = meta.get("crop_size") or META_SIZE
    at_meta = counted if counted["input_size"] == [size, size] else count_macs(model, size, in_chans=in_chans)
    out["macs_published"] = round(meta["gflops"] * 1e9)
    out["published_size"] = size
    out["macs_at_published_size"] = at_meta["macs"]
    if at_meta["macs"] is not None:
        # Named for the size that covers most torchvision weights; it is at the weights' crop size.
        out["macs_at_224_vs_meta"] = round(at_meta["macs"] / out["macs_published"], 4)
    return out


def _params_note(model: nn.Module, total: int, published: int | None, *, aux_dropped: bool,
                 aux_params: int | None = None) -> str | None:
    """Why the counted parameters differ from the published count (None when they agree)."""
    notes = []
    if aux_dropped:
        # torchvision is not consistent here: GoogLeNet's published count leaves its aux heads out,
        # Inception v3's includes its AuxLogits.
        shown = "counted as the model runs at inference and is trained here: auxiliary classifiers (used only " \
                "for a training loss) are dropped"
        if published is not None and aux_params and total + aux_params == published:
            shown += f"; the published count includes them ({aux_params:,} parameters)"
        elif published is not None and total == published:
            shown += ", as in the published count"
        notes.append(shown)
        total += aux_params if aux_params and published is not None and total + aux_params == published else 0
    if published is not None and total != published:
        out_features = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)][-1:]
        if out_features and out_features[0] != 1000:
            notes.append(f"the published count includes the 1000-class ImageNet head; this head has "
                         f"{out_features[0]} output(s)")
        else:
            notes.append(f"differs from the published count by {total - published:+,}")
    return "; ".join(notes) or None


def aux_head_params(backbone_name: str) -> int:
    """Parameters in the auxiliary classifiers torchvision builds for a backbone (0 for most).

    Built on the meta device: shapes only, no memory and no (slow) weight initialisation.
    """
    import torchvision

    if backbone_name not in torchvision.models.list_models(module=torchvision.models):
        return 0
    if not backbone_name.startswith(("googlenet", "inception")):  # the only families with auxiliary heads;
        return 0  # others need not be built (RegNet cannot be, on the meta device)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GoogLeNet's FutureWarning about its init
        model = torchvision.models.get_model(backbone_name, weights=None)
    return sum(p.numel() for a in ("aux1", "aux2", "AuxLogits") if isinstance(getattr(model, a, None), nn.Module)
               for p in getattr(model, a).parameters())


def arch_stats(model: nn.Module, *, input_size: int | tuple[int, int], in_chans: int = 3,
               weights: Any = None, aux_dropped: bool | None = None, aux_params: int | None = None) -> dict[str, Any]:
    """Everything ``arch.json`` records about a model: parameters, MACs and the weights' metadata.

    Args:
        model: the model as trained (head replaced, strategy's freezing applied).
        input_size: the training input size (int or (H, W)).
        in_chans: input channels of the model's first layer.
        weights: a torchvision ``WeightsEnum`` member, or a metadata dict from :func:`.weights_meta.weights_meta_for`.
        aux_dropped: the model's auxiliary heads were removed (GoogLeNet, Inception v3); None: detect.
        aux_params: how many parameters those heads held (explains a published count that includes them).

    Returns:
        params (counted and published, with a note on any difference), MACs (headline ``macs`` and
        ``macs_tool``, each tool's count, the published figure beside the count at its crop size),
        and a ``torchinfo_error`` note where torchinfo could not count.
    """
    params = count_params(model)
    counted = count_macs(model, input_size, in_chans=in_chans)
    meta = weights if isinstance(weights, dict) or weights is None else weights_meta(weights)
    if aux_dropped is None:  # backbones.build_base turns aux_logits off and removes the aux modules
        aux_dropped = getattr(model, "aux_logits", None) is False and any(
            hasattr(model, a) for a in ("aux1", "AuxLogits"))
    published_params = (meta or {}).get("num_params")
    out = {
        "params_total": params["total"],
        "params_trainable": params["trainable"],
        "params_frozen": params["frozen"],
        "params_published": published_params,
        "params_note": _params_note(model, params["total"], published_params, aux_dropped=bool(aux_dropped),
                                    aux_params=aux_params),
        "params_aux_dropped": aux_params if aux_dropped else None,
        "param_bytes": param_bytes(model),
        "macs": counted["macs"],
        "macs_tool": counted["tool"],
        "macs_fvcore": counted["macs_fvcore"],
        "macs_counter": counted["macs_counter"],
        "macs_torchinfo": counted["macs_torchinfo"],
        "macs_unsupported_ops": counted["unsupported_ops"],
        "macs_errors": counted["errors"],
        "input_size": counted["input_size"],
        "imagenet": meta,
        **_published(model, counted, meta, in_chans),
    }
    # Always present (None when torchinfo counted), so the record has one fixed set of keys.
    out["torchinfo_error"] = counted["errors"].get("torchinfo")
    return out
