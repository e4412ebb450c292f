"""`frozen` is frozen: backbone weights and BatchNorm running statistics identical after training, head changed.

Runs the real runner path on real PneumoniaMNIST images with the real offline ImageNet weights,
both with cached features and with the backbone run every epoch (the path where model.train()
would otherwise update BN statistics).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reportgen.config import load_experiment
from reportgen.models.backbones import WeightsChoice, build_model
from reportgen.train.cell import run_cell
from reportgen.train.environment import environment
from reportgen.train.preflight import preflight
from tests.conftest import tiny_npz_experiment


@pytest.mark.parametrize("cache", [True, False], ids=["cached-features", "backbone-every-epoch"])
def test_frozen_backbone_and_bn_statistics_do_not_move(tmp_path: Path, cache: bool) -> None:
    toml = tiny_npz_experiment(tmp_path, strategies='["frozen"]', n_train=96,
                               extra=f"frozen_feature_cache = {str(cache).lower()}\n")
    exp = load_experiment(toml)
    pf = preflight(exp)
    cell = pf.cells[0]
    start = build_model("efficientnet_lite0", WeightsChoice("offline"), num_outputs=2).model.state_dict()
    cdir = tmp_path / "cell"
    result = run_cell(cell, pf.datasets["pnm"], pf.choice_for(cell), cdir=cdir, device=torch.device("cpu"),
                      env=environment(torch.device("cpu")), save_checkpoint=True)
    best = torch.load(cdir / "best.pt", weights_only=True)
    for k, v in start.items():
        if k.startswith("_fc."):
            continue
        assert torch.equal(best[k], v), f"backbone tensor {k} changed"
    torch.manual_seed(cell.seed)  # the head's initial values, as the runner drew them
    fresh_head = build_model("efficientnet_lite0", WeightsChoice("offline"), num_outputs=2).model._fc
    assert not torch.equal(best["_fc.weight"], fresh_head.weight), "the head did not train"
    assert result["frozen_bn_drift"] == 0.0
    assert result["frozen_mode"] == ("cached_features" if cache else "per_epoch")


def test_cached_and_plain_frozen_give_the_same_predictions(tmp_path: Path) -> None:
    """Issue 5: caching features is an optimisation, not a different method."""
    probs = {}
    for cache in (True, False):
        d = tmp_path / str(cache)
        d.mkdir()
        toml = tiny_npz_experiment(d, strategies='["frozen"]', n_train=96,
                                   extra=f"frozen_feature_cache = {str(cache).lower()}\n")
        exp = load_experiment(toml)
        pf = preflight(exp)
        cell = pf.cells[0]
        run_cell(cell, pf.datasets["pnm"], pf.choice_for(cell), cdir=d / "cell", device=torch.device("cpu"),
                 env=environment(torch.device("cpu")), save_checkpoint=False)
        from reportgen.store import read_predictions

        probs[cache] = read_predictions(d / "cell" / "predictions_test.csv").probs
    assert probs[True].shape == probs[False].shape == (624, 2)
    assert abs(probs[True] - probs[False]).max() < 1e-4
