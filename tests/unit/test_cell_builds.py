"""Cells are what their labels say: a random small stem trains under frozen / warm-up (and is recorded), a
weights file meets the architecture it was saved from, SqueezeNet's BCE logit can be negative, RegNet
validates and trains. Real runner, real PneumoniaMNIST images, tiny sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import get_model

from reportgen import store
from reportgen.config import load_experiment
from reportgen.models.backbones import WeightsChoice, build_model, check_input_size
from reportgen.models.strategies import head_only_paths, set_stage
from reportgen.train.cell import run_cell
from reportgen.train.environment import environment
from reportgen.train.preflight import preflight
from tests.tinyexp import tiny_experiment

CPU = torch.device("cpu")


def experiment(tmp_path: Path, *, backbone: str, weights: str, strategies: str, size: int = 32,
               stem: str = "default", n_train: int = 64, epochs: int = 1, extra: str = "") -> Path:
    return tiny_experiment(tmp_path, file="cells.toml", name="cells", strategies=strategies, report=None,
                           dataset={"max_train_samples": n_train},
                           backbone={"name": backbone, "weights": weights, "input_size": size, "stem": stem},
                           train={"epochs": epochs, "warmup_frozen_epochs": 1}, extra=extra)


def train_cell(toml: Path, tmp_path: Path, strategy: str) -> tuple[dict, Path]:
    pf = preflight(load_experiment(toml))  # validate: must pass (never refused only at run)
    cell = next(c for c in pf.cells if c.strategy == strategy)
    cdir = tmp_path / "cell"
    result = run_cell(cell, pf.datasets["pnm"], pf.choice_for(cell), cdir=cdir, device=CPU, env=environment(CPU),
                      save_checkpoint=True)
    return result, cdir


@pytest.fixture(scope="module")
def imagenet_style_file(tmp_path_factory) -> Path:
    """A ResNet-18 state dict as torchvision saves one (7×7 first conv), seeded random weights."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("w") / "resnet18.pth"
    torch.save(get_model("resnet18", weights=None).state_dict(), path)
    return path


@pytest.mark.slow  # ~60 s on 2 busy cores: the backbone runs every epoch and the full test split is scored
def test_frozen_small_stem_resnet_trains_its_random_stem_and_records_it(tmp_path: Path,
                                                                        imagenet_style_file: Path) -> None:
    """The issue's case: stem = "small" + frozen + a weights file passed validate and then failed at run
    (conv1 (64, 3, 7, 7) vs (64, 3, 3, 3)); and a frozen random stem made a linear probe behind noise."""
    toml = experiment(tmp_path, backbone="resnet18", weights=str(imagenet_style_file), strategies='["frozen"]',
                      stem="small")
    result, cdir = train_cell(toml, tmp_path, "frozen")
    file = torch.load(imagenet_style_file, weights_only=True)
    best = torch.load(cdir / "best.pt", weights_only=True)
    # Everything the file gave that the stem did not replace is loaded and stays frozen ...
    assert torch.equal(best["layer1.0.conv1.weight"], file["layer1.0.conv1.weight"])
    assert torch.equal(best["layer4.1.bn2.running_var"], file["layer4.1.bn2.running_var"])
    # ... while the new 3×3 conv and the BatchNorm after it train, and the record says so.
    assert best["conv1.weight"].shape == (64, 3, 3, 3)
    torch.manual_seed(0)  # the runner's seed: the new conv's initial values
    fresh = build_model("resnet18", WeightsChoice("path", path=imagenet_style_file), num_outputs=2,
                        input_size=32, stem="small")
    assert not torch.equal(best["conv1.weight"], fresh.model.conv1.weight.detach())
    assert fresh.stem["random_init"] == ["conv1"] and fresh.stem["trainable_when_frozen"] == ["conv1", "bn1"]
    stages = result["stages"]
    assert [s["name"] for s in stages] == ["frozen"] and result["stages_complete"] is True
    head = 512 * 2 + 2
    assert stages[0]["trainable_params"] == head + 64 * 3 * 3 * 3 + 2 * 64  # head + conv1 + bn1 affine
    arch = store.read_json(cdir / "arch.json")
    assert arch["stem"]["trainable_when_frozen"] == ["conv1", "bn1"]


def test_a_small_stem_checkpoint_loads_whole_and_nothing_extra_trains(tmp_path: Path) -> None:
    torch.manual_seed(2)
    small = build_model("resnet18", WeightsChoice("none"), num_outputs=1000, input_size=32, stem="small").model
    path = tmp_path / "small.pth"
    torch.save(small.state_dict(), path)
    built = build_model("resnet18", WeightsChoice("path", path=path), num_outputs=2, input_size=32, stem="small")
    assert torch.equal(built.model.conv1.weight, small.conv1.weight)
    assert built.stem["random_init"] == [] and head_only_paths(built.model, built.head_path) == ["fc"]


def test_warmup_with_a_random_stem_trains_the_stem_in_its_frozen_stage() -> None:
    built = build_model("densenet121", WeightsChoice("none"), num_outputs=2, input_size=32, stem="small")
    set_stage(built.model, built.head_path, frozen=True)
    trainable = {n.rsplit(".", 1)[0] for n, p in built.model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier", "features.conv0", "features.norm0"}


def test_squeezenet_bce_gives_probabilities_below_one_half() -> None:
    """Its classifier was conv → ReLU → pool: the one BCE logit could never be negative (p ≥ 0.5 always)."""
    torch.manual_seed(0)
    built = build_model("squeezenet1_1", WeightsChoice("none"), num_outputs=1, input_size=64)
    built.model.eval()
    with torch.no_grad():
        logits = built.model(torch.randn(16, 3, 64, 64)).view(-1)
    p = torch.sigmoid(logits)
    assert (p < 0.5).any()  # impossible behind a ReLU: sigmoid(≥ 0) ≥ 0.5
    assert not any(isinstance(m, torch.nn.ReLU) for m in built.model.classifier)


def test_regnet_validates_and_trains_one_epoch_at_64_px(tmp_path: Path) -> None:
    """preflight used to refuse the whole family: building on the meta device calls .tolist()."""
    assert check_input_size("regnet_y_400mf", 64) is None
    toml = experiment(tmp_path, backbone="regnet_y_400mf", weights="none", strategies='["scratch"]', size=64,
                      n_train=32)
    result, cdir = train_cell(toml, tmp_path, "scratch")
    assert result["epochs_run"] == 1 and [s["name"] for s in result["stages"]] == ["scratch"]
    assert [r["stage"] for r in store.read_csv(cdir / "epochs.csv")] == ["scratch"]
    probs = store.read_predictions(cdir / "predictions_test.csv")
    assert np.isfinite(np.asarray(probs.probs)).all()
