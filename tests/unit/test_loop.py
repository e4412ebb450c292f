"""The training loop on synthetic features: model selection, early stopping, class weights, warm-up."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from reportgen.config import TRAIN_KEYS
from reportgen.describe import metrics
from reportgen.errors import ReportgenError, TrainingDiverged
from reportgen.train.loop import Forward, LoopConfig, Split, class_weights, fit, predict, to_probs


def cfg(**over) -> dict:
    t = {k: v[0] for k, v in TRAIN_KEYS.items()}
    t.update({"epochs": 4, "batch_size": 16, "scheduler": "none", "augment": "none", "patience": 0})
    t.update(over)
    return t


def data(seed: int = 0, n: int = 200) -> tuple[Split, Split]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return Split(images=x[: n // 2], labels=y[: n // 2]), Split(images=x[n // 2:], labels=y[n // 2:])


def run(train: dict, strategy: str = "finetune", model: nn.Module | None = None, *, adverse_val: bool = False):
    torch.manual_seed(0)
    model = model or nn.Sequential(nn.Linear(8, 2))
    tr, va = data()
    if adverse_val:  # validation labels flipped: the more the model learns, the worse val gets
        va = Split(images=va.images, labels=1 - va.labels)
    lc = LoopConfig(strategy=strategy, train=train, num_classes=2, device=torch.device("cpu"), seed=0)
    return model, fit(Forward(module=model, norm=None), head_path="0", train=tr, val=va, cfg=lc, full_model=model)


def test_best_state_is_a_copy_not_the_live_weights() -> None:
    # Learning makes validation worse here, so the best epoch is the first and must differ from the last.
    model, res = run(cfg(optimizer="sgd", lr=0.5, momentum=0.0, weight_decay=0.0, selection_metric="val_loss"),
                     adverse_val=True)
    assert res.best_epoch < len(res.epochs)
    assert not torch.equal(res.best_state["0.weight"], model.state_dict()["0.weight"])
    _, first = run(cfg(optimizer="sgd", lr=0.5, momentum=0.0, weight_decay=0.0, selection_metric="val_loss",
                       epochs=res.best_epoch), adverse_val=True)
    assert torch.equal(res.best_state["0.weight"], first.best_state["0.weight"])
    losses = [r["val_loss"] for r in res.epochs]
    assert res.best_value == pytest.approx(min(losses))


def test_early_stopping_stops_after_patience() -> None:
    _, res = run(cfg(optimizer="sgd", lr=0.5, momentum=0.0, weight_decay=0.0, selection_metric="val_loss",
                     epochs=30, patience=2), adverse_val=True)
    assert res.stopped_early
    assert len(res.epochs) == res.best_epoch + 2


def test_learns_a_separable_problem_and_logs_every_column() -> None:
    _, res = run(cfg(lr=0.05, epochs=6))
    last = res.epochs[-1]
    assert last["val_acc"] > 0.85 and last["val_auc"] > 0.9
    assert set(last) >= {"epoch", "stage", "train_loss", "train_acc", "train_macro_f1", "val_loss", "val_acc",
                         "val_macro_f1", "val_auc", "lr", "seconds", "peak_mem_mb"}


def test_warmup_trains_head_only_then_everything() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    start = model[0].weight.detach().clone()
    tr, va = data()
    lc = LoopConfig(strategy="warmup", train=cfg(lr=0.05, epochs=3, warmup_frozen_epochs=2), num_classes=2,
                    device=torch.device("cpu"), seed=0)
    res = fit(Forward(module=model, norm=None), head_path="1", train=tr, val=va, cfg=lc, full_model=model)
    assert [r["stage"] for r in res.epochs] == ["frozen", "frozen", "finetune"]
    assert not torch.equal(model[0].weight, start)  # unfrozen in epoch 3
    lc2 = LoopConfig(strategy="warmup", train=cfg(lr=0.05, epochs=2, warmup_frozen_epochs=2), num_classes=2,
                     device=torch.device("cpu"), seed=0)
    model2 = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    model2.load_state_dict({k: v for k, v in nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2)).state_dict().items()})
    before = model2[0].weight.detach().clone()
    fit(Forward(module=model2, norm=None), head_path="1", train=tr, val=va, cfg=lc2, full_model=model2)
    assert torch.equal(model2[0].weight, before)  # frozen for both epochs


def test_class_weights_hand_computed() -> None:
    # 6 of class 0, 2 of class 1: n / (K · n_c) = 8/12 and 8/4
    w = class_weights(np.array([0, 0, 0, 0, 0, 0, 1, 1]), 2)
    assert torch.allclose(w, torch.tensor([2 / 3, 2.0]))


def test_bce_probabilities_have_two_columns() -> None:
    p = to_probs(torch.tensor([[0.0], [100.0]]), bce=True)
    assert p.dtype == torch.float64 and torch.allclose(p, torch.tensor([[0.5, 0.5], [0.0, 1.0]], dtype=torch.float64))


def test_non_finite_training_loss_stops_the_cell() -> None:
    with pytest.raises(TrainingDiverged) as info:
        run(cfg(optimizer="sgd", lr=float("inf"), momentum=0.0, weight_decay=0.0, epochs=3))
    assert isinstance(info.value, ReportgenError)
    text = str(info.value)
    assert "training loss is nan in epoch 1" in text
    assert "lower [train].lr" in text


class _NanHead(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], 2)
        out[3, 1] = float("nan")
        return out


def test_non_finite_probabilities_raise_instead_of_becoming_an_auc() -> None:
    _, va = data()
    lc = LoopConfig(strategy="finetune", train=cfg(), num_classes=2, device=torch.device("cpu"), seed=0)
    with pytest.raises(TrainingDiverged, match="1 of 100 predicted probabilities are not finite"):
        predict(Forward(module=_NanHead(), norm=None), va, cfg=lc, batch_size=100, dtype=None)


def test_logged_val_metrics_are_the_reported_kernels() -> None:
    # Three classes, of which the data only ever use two: a loop formula that averages F1 over every
    # class index (counting the absent one as 0) would log a different macro-F1 than the report's.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 3))
    tr, va = data()
    lc = LoopConfig(strategy="finetune", train=cfg(lr=0.05, epochs=1), num_classes=3, device=torch.device("cpu"),
                    seed=0)
    res = fit(Forward(module=model, norm=None), head_path="0", train=tr, val=va, cfg=lc, full_model=model)
    probs, loss = predict(Forward(module=model, norm=None), va, cfg=lc, batch_size=64, dtype=None,
                          loss_fn=lambda logits, y: torch.nn.functional.cross_entropy(logits, y))
    reported = metrics.summarize(va.labels, probs, class_names=["a", "b", "c"], n_boot=0)
    row = res.epochs[0]
    assert 0.5 < reported["macro_f1"] < 1.0
    assert row["val_macro_f1"] == reported["macro_f1"]
    assert row["val_acc"] == reported["accuracy"]
    assert row["val_auc"] == reported["auc"]
    assert row["val_loss"] == pytest.approx(loss)
