"""A per-layer summary of a cell's model (torchinfo at depth 2), written to the cell's ``layers.json``.

Report 000 pasted torchinfo summaries into its appendix; this is the same table as typed rows (layer
path, type, output shape, parameters, trainable parameters), so the report can print it without torch.
torchinfo cannot run every model (custom autograd functions, odd inputs): then the record keeps the
error and no rows, and training goes on — a summary is documentation, never a reason to fail a cell.
"""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from .. import store
from ..registry import strategies as strategy_registry
from ..store.schema import LayerRow, LayerSummary
from .stats import _eval_mode, _reason, count_params
from .strategies import set_stage

log = logging.getLogger(__name__)

DEPTH = 2  # the children of the model and their children: ResNet's layer1.0, EfficientNet's features.3.1


def _tool() -> str:
    try:
        return f"torchinfo {metadata.version('torchinfo')}"
    except metadata.PackageNotFoundError:
        return "torchinfo (not installed)"


def _path(info: object) -> str:
    """The dotted module path of a torchinfo LayerInfo (its var_name and its parents', below the root)."""
    parts = []
    node = info
    while node is not None and getattr(node, "depth", 0) > 0:
        parts.append(str(node.var_name))
        node = node.parent_info
    return ".".join(reversed(parts))


def layer_rows(model: nn.Module, input_size: int, *, in_chans: int = 3, depth: int = DEPTH) -> list[LayerRow]:
    """torchinfo's summary rows down to ``depth`` (raises whatever torchinfo raises)."""
    import torchinfo

    # Zeros, not torchinfo's random input: a summary must not advance the RNG the training seed set.
    x = torch.zeros(1, in_chans, input_size, input_size, device=next(model.parameters()).device)
    with _eval_mode(model), torch.no_grad():
        stats = torchinfo.summary(model, input_data=x, depth=depth, verbose=0, device=x.device)
    rows = []
    for info in stats.summary_list:
        # A module called twice (a shared ReLU) appears again as "recursive": count it once.
        if not 1 <= info.depth <= depth or info.is_recursive:
            continue
        shape = info.output_size if isinstance(info.output_size, list) and all(
            isinstance(v, int) for v in info.output_size) else None
        rows.append(LayerRow(depth=info.depth, name=_path(info), type=info.class_name, output_shape=shape,
                             params=int(info.num_params), params_trainable=int(info.trainable_params)))
    return rows


def layer_summary(model: nn.Module, *, backbone: str, strategy: str, head_path: str, input_size: int,
                  in_chans: int = 3) -> LayerSummary:
    """The summary of the model as it trains; warm-up is summarised in its fine-tune stage.

    A warm-up model arrives frozen (its first stage); its summary shows what trains *after* warm-up
    (everything), and the frozen stage is restored before returning. Never raises for a torchinfo failure.
    """
    warmup = strategy == "warmup"
    if warmup:
        set_stage(model, head_path, frozen=False)
    try:
        counts = count_params(model)
        starts_frozen = strategy_registry.get(strategy).stages[0].trains == "head"
        stage = "frozen" if counts["frozen"] and starts_frozen else "finetune"
        try:
            rows, error = layer_rows(model, input_size, in_chans=in_chans), None
        except Exception as exc:  # noqa: BLE001 - torchinfo raises many kinds; the report shows the reason
            log.warning("torchinfo could not summarise %s: %s", backbone, _reason(exc))
            rows, error = [], _reason(exc)
    finally:
        if warmup:
            set_stage(model, head_path, frozen=True)
    return LayerSummary(backbone=backbone, strategy=strategy, stage=stage,
                        input_shape=[1, in_chans, input_size, input_size], depth=DEPTH, tool=_tool(), rows=rows,
                        params_total=counts["total"], params_trainable=counts["trainable"],
                        params_frozen=counts["frozen"], error=error)


def write_layer_summary(cdir: Path, model: nn.Module, **kwargs: object) -> LayerSummary:
    """Summarise and write ``cdir/layers.json``."""
    record = layer_summary(model, **kwargs)  # type: ignore[arg-type]
    store.write_record(cdir / LayerSummary.FILE, record)
    return record
