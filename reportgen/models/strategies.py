"""Transfer-learning strategies as explicit, checkable states of a model.

``frozen`` is a *true* fixed feature extractor: the backbone's parameters have
``requires_grad=False`` **and** every backbone module stays in eval mode, so BatchNorm running
statistics and Dropout do not change (``model.train()`` alone would keep updating BN statistics —
the trap report 000 fell into). ``warmup`` is frozen for the first epochs, then fine-tunes.
"""

from __future__ import annotations

from torch import nn


def head_module(model: nn.Module, head_path: str) -> nn.Module:
    return model.get_submodule(head_path)


def set_stage(model: nn.Module, head_path: str, *, frozen: bool) -> None:
    """Set requires_grad for a stage: ``frozen`` trains only the head, otherwise everything."""
    head_params = {id(p) for p in head_module(model, head_path).parameters()}
    for p in model.parameters():
        p.requires_grad_(not frozen or id(p) in head_params)


def train_mode(model: nn.Module, head_path: str, *, frozen: bool) -> None:
    """``model.train()``, except that a frozen backbone stays in eval mode (BN statistics fixed)."""
    model.train()
    if frozen:
        head = head_module(model, head_path)
        head_mods = {id(m) for m in head.modules()}
        for m in model.modules():
            if id(m) not in head_mods:
                m.train(False)


def is_frozen_stage(strategy: str, epoch: int, *, warmup_frozen_epochs: int) -> bool:
    """Whether ``epoch`` (1-based) trains the head only."""
    return strategy == "frozen" or (strategy == "warmup" and epoch <= warmup_frozen_epochs)


def bn_state(model: nn.Module, head_path: str) -> dict[str, object]:
    """A copy of every BatchNorm running statistic outside the head (to prove it did not move)."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not name.startswith(head_path) and m.running_mean is not None:
            out[f"{name}.running_mean"] = m.running_mean.detach().clone()
            out[f"{name}.running_var"] = m.running_var.detach().clone()
    return out


def max_drift(before: dict, after: dict) -> float:
    """Largest absolute change between two :func:`bn_state` snapshots (0.0 when nothing moved)."""
    if not before:
        return 0.0
    return max(float((after[k].float() - before[k].float()).abs().max()) for k in before)
