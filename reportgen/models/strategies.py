"""Transfer-learning strategies as explicit, checkable states of a torch model.

A strategy is a sequence of *stages*; each stage says which parameters train (the head only, or
everything) and gives the name epochs.csv's ``stage`` column carries. The stages are defined once, torch-free,
in :mod:`reportgen.registry.strategies`; this module applies them to a model. Everything that needs "which
parameters train in which epoch" (the loop, the runner's records, the plan, the layer summary, the
registry-wide test) reads :data:`STAGES` through the functions below.

``frozen`` is a *true* fixed feature extractor: the backbone's parameters have
``requires_grad=False`` **and** every backbone module stays in eval mode, so BatchNorm running
statistics and Dropout do not change (``model.train()`` alone would keep updating BN statistics —
the trap report 000 fell into). ``warmup`` is frozen for the first epochs, then fine-tunes.

What trains in a head-only stage is the head *and* any module the model marks as newly initialised
outside it (``model.reportgen_trainable``: a random ``stem = "small"`` first conv and the BatchNorm
after it). Freezing a random layer would turn "frozen pretrained features" into features behind a
random projection.
"""

from __future__ import annotations

from torch import nn

# The stages themselves (which parameters train in which epoch) are facts of the strategy registry, torch-free;
# this module applies them to a torch model.
from ..registry.strategies import REGISTRY as _REGISTRY
from ..registry.strategies import STAGE_NAMES, Stage, planned_stages, stage_at, stage_index  # noqa: F401

STAGES: dict[str, tuple[Stage, ...]] = {s.name: s.stages for s in _REGISTRY}


def stages(strategy: str) -> tuple[Stage, ...]:
    return STAGES[strategy]


def is_frozen_stage(strategy: str, epoch: int, *, warmup_frozen_epochs: int) -> bool:
    """Whether ``epoch`` (1-based) trains the head only."""
    return stage_at(strategy, epoch, warmup_frozen_epochs=warmup_frozen_epochs).trains == "head"


def head_module(model: nn.Module, head_path: str) -> nn.Module:
    return model.get_submodule(head_path)


def head_only_paths(model: nn.Module, head_path: str) -> list[str]:
    """The module paths that train in a head-only stage: the head, and layers the build initialised anew."""
    return [head_path] + [p for p in getattr(model, "reportgen_trainable", ()) if p != head_path]


def _under(name: str, paths: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in paths)


def set_stage(model: nn.Module, head_path: str, *, frozen: bool) -> None:
    """Set requires_grad for a stage: ``frozen`` trains only the head (and new layers), otherwise everything."""
    paths = head_only_paths(model, head_path)
    for name, p in model.named_parameters():
        p.requires_grad_(not frozen or _under(name, paths))


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_mode(model: nn.Module, head_path: str, *, frozen: bool) -> None:
    """``model.train()``, except that a frozen backbone stays in eval mode (BN statistics fixed)."""
    model.train()
    if frozen:
        paths = head_only_paths(model, head_path)
        for name, m in model.named_modules():
            if not _under(name, paths):
                m.train(False)


def bn_state(model: nn.Module, head_path: str) -> dict[str, object]:
    """A copy of every BatchNorm running statistic of the frozen part (to prove it did not move)."""
    paths = head_only_paths(model, head_path)
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not _under(name, paths) and m.running_mean is not None:
            out[f"{name}.running_mean"] = m.running_mean.detach().clone()
            out[f"{name}.running_var"] = m.running_var.detach().clone()
    return out


def max_drift(before: dict, after: dict) -> float:
    """Largest absolute change between two :func:`bn_state` snapshots (0.0 when nothing moved)."""
    if not before:
        return 0.0
    return max(float((after[k].float() - before[k].float()).abs().max()) for k in before)
