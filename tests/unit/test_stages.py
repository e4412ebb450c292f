"""Stages are real: a warm-up reaches fine-tuning whatever the validation metric does, early stopping and a
plateau schedule count within the last stage only, and every stage is logged (first epoch, trainable count).

The loop on synthetic features (a two-layer model whose first layer plays the backbone), as test_loop does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from reportgen.config import TRAIN_KEYS
from reportgen.models import strategies
from reportgen.train.loop import Forward, LoopConfig, Split, fit


def cfg(**over) -> dict:
    t = {k: v[0] for k, v in TRAIN_KEYS.items()}
    t.update({"epochs": 8, "batch_size": 16, "scheduler": "none", "augment": "none", "patience": 0,
              "optimizer": "sgd", "lr": 0.5, "momentum": 0.0, "weight_decay": 0.0, "selection_metric": "val_loss"})
    t.update(over)
    return t


def adverse() -> tuple[Split, Split]:
    """Validation labels flipped: the more the model learns, the worse validation gets (it never improves)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return Split(images=x[:80], labels=y[:80]), Split(images=x[80:], labels=1 - y[80:])


def run(strategy: str, **over):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    tr, va = adverse()
    lc = LoopConfig(strategy=strategy, train=cfg(**over), num_classes=2, device=torch.device("cpu"), seed=0)
    return model, fit(Forward(module=model, norm=None), head_path="1", train=tr, val=va, cfg=lc, full_model=model)


def test_warmup_reaches_finetune_although_validation_never_improves() -> None:
    """The issue's case: epochs 8, warmup_frozen_epochs 5, patience 2 used to stop at epoch 3, all frozen."""
    _, res = run("warmup", warmup_frozen_epochs=5, patience=2)
    names = [r["stage"] for r in res.epochs]
    assert names[:5] == ["frozen"] * 5 and names[5] == "finetune"
    # Patience counts from the switch: epochs 6 and 7 without improvement stop it after epoch 7.
    assert len(res.epochs) == 7 and res.stopped_early
    assert [(s["name"], s["first_epoch"], s["epochs"]) for s in res.stages] == [("frozen", 1, 5), ("finetune", 6, 2)]
    assert res.stages[0]["trainable_params"] == 8 * 2 + 2  # the head
    assert res.stages[1]["trainable_params"] == 8 * 8 + 8 + 8 * 2 + 2  # everything
    assert res.stages[0]["trains"] == "head" and res.stages[1]["trains"] == "all"
    assert sum(s["seconds"] for s in res.stages) == pytest.approx(sum(r["seconds"] for r in res.epochs))


def test_plateau_schedule_does_not_cut_the_lr_during_the_frozen_stage() -> None:
    # patience 0: no early stopping; the plateau schedule's own patience is then 1 (two bad epochs cut).
    _, res = run("warmup", epochs=10, warmup_frozen_epochs=5, patience=0, scheduler="plateau", gamma=0.1)
    lrs = [r["lr"] for r in res.epochs]  # each row: the LR the epoch trained with
    assert lrs[:8] == [0.5] * 8  # five bad epochs in the warm-up cut nothing; it counts from epoch 6
    assert lrs[8] == pytest.approx(0.05)  # epoch 6 sets its reference, 7 and 8 do not improve: cut


def test_early_stopping_in_a_single_stage_strategy_is_unchanged() -> None:
    _, res = run("finetune", patience=2)
    assert res.stopped_early and len(res.epochs) == res.best_epoch + 2
    assert {r["stage"] for r in res.epochs} == {"finetune"}


def test_scratch_epochs_are_labelled_scratch() -> None:
    _, res = run("scratch", epochs=2)
    assert [r["stage"] for r in res.epochs] == ["scratch", "scratch"]
    assert [s["name"] for s in res.stages] == ["scratch"]


def test_a_warmup_longer_than_the_run_is_logged_as_incomplete() -> None:
    _, res = run("warmup", epochs=2, warmup_frozen_epochs=5)
    assert [s["name"] for s in res.stages] == ["frozen"]
    planned = [st.name for st in strategies.stages("warmup")]
    assert planned == ["frozen", "finetune"] and [s["name"] for s in res.stages] != planned


def test_every_strategy_has_its_stages_in_one_registry() -> None:
    from reportgen.config import STRATEGIES

    assert set(strategies.STAGES) == set(STRATEGIES)
    assert strategies.planned_stages("warmup", epochs=8, warmup_frozen_epochs=5) == [
        (strategies.Stage("frozen", "head"), 1), (strategies.Stage("finetune", "all"), 6)]
    assert strategies.planned_stages("warmup", epochs=3, warmup_frozen_epochs=5) == [
        (strategies.Stage("frozen", "head"), 1)]
    assert all(st.name in strategies.STAGE_NAMES for sts in strategies.STAGES.values() for st in sts)


def test_a_warmup_that_would_never_fine_tune_is_refused_at_validate(tmp_path) -> None:
    """Frozen warm-up epochs that fill the whole budget make a frozen cell labelled warm-up: refused before any
    compute, naming the key that set it (here the strategy's override)."""
    import pytest

    from reportgen.config import load_experiment
    from reportgen.errors import ConfigError
    from tests.tinyexp import tiny_experiment

    toml = tiny_experiment(tmp_path, file="w.toml", strategies=["finetune", "warmup"], report=None,
                           experiment={"name": None, "output_dir": None}, dataset={"max_train_samples": None},
                           backbone={"input_size": None}, train_base={}, train={"epochs": 4},
                           overrides={"strategy": {"warmup": {"warmup_frozen_epochs": 4}}})
    with pytest.raises(ConfigError) as err:
        load_experiment(toml)
    assert "overrides.strategy.warmup.warmup_frozen_epochs" in str(err.value) and "never reaches fine-tuning" in str(err.value)
    toml.write_text(toml.read_text().replace("warmup_frozen_epochs = 4", "warmup_frozen_epochs = 3"), encoding="utf-8")
    assert load_experiment(toml).strategies == ["finetune", "warmup"]
