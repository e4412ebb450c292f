"""Heads and weights: the head is found for every family, input sizes are checked, weights resolve and load.

The backbone × strategy × stem sweep lives in ``test_registry_cells.py`` (one sweep, driven by the registries).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reportgen.errors import ConfigError, WeightsError
from reportgen.models import backbones as bb


@pytest.mark.parametrize(("name", "head"), [
    ("resnet18", "fc"), ("efficientnet_b0", "classifier.1"), ("convnext_tiny", "classifier.2"),
    ("vit_b_16", "heads.head"), ("densenet121", "classifier"), ("squeezenet1_0", "classifier.1"),
    ("efficientnet_lite0", "_fc"), ("mlp", "9"),
])
def test_head_is_found_for_every_family(name: str, head: str) -> None:
    built = bb.build_model(name, bb.WeightsChoice("none"), num_outputs=5, input_size=32)
    assert built.head_path == head
    mod = built.model.get_submodule(head)
    assert (mod.out_features if isinstance(mod, nn.Linear) else mod.out_channels) == 5


def test_unknown_backbone_suggests_names() -> None:
    with pytest.raises(ConfigError) as info:
        bb.check_backbone_name("resnet-18", key="backbones[0].name")
    assert "resnet18" in str(info.value)


@pytest.mark.parametrize(("name", "size", "ok"), [("densenet121", 28, False), ("densenet121", 32, True),
                                                   ("convnext_tiny", 28, False), ("resnet18", 28, True)])
def test_input_size_check(name: str, size: int, ok: bool) -> None:
    assert (bb.check_input_size(name, size) is None) == ok


def test_smallest_input_size_of_densenet() -> None:
    smallest = bb.smallest_input_size("densenet121")
    assert smallest is not None and 28 < smallest <= 32
    assert bb.check_input_size("densenet121", smallest) is None
    assert bb.check_input_size("densenet121", smallest - 1) is not None


def test_weights_resolution() -> None:
    assert bb.resolve_weights("resnet18", "DEFAULT").label == "ResNet18_Weights.IMAGENET1K_V1"
    assert bb.resolve_weights("resnet18", "IMAGENET1K_V1").kind == "torchvision"
    assert bb.resolve_weights("efficientnet_lite0", "offline").kind == "offline"
    assert bb.resolve_weights("resnet18", "none").kind == "none"
    with pytest.raises(ConfigError, match="IMAGENET1K_V1"):
        bb.resolve_weights("resnet18", "IMAGENET22K")
    with pytest.raises(ConfigError, match="none"):
        bb.resolve_weights("mlp", "DEFAULT")


def test_torchvision_weights_load_through_the_real_cache(tmp_path, monkeypatch) -> None:
    """torchvision's own loading path, offline: a state dict placed in $TORCH_HOME is used, not downloaded."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    choice = bb.resolve_weights("shufflenet_v2_x0_5", "DEFAULT")
    target = bb.weights_cache_file(choice.enum)
    assert target.parent == tmp_path / "hub" / "checkpoints"
    from torchvision.models import get_model

    torch.manual_seed(123)
    reference = get_model("shufflenet_v2_x0_5", weights=None)
    target.parent.mkdir(parents=True)
    # torchvision checks the hash prefix in the file name, so the file must carry the real name;
    # check_hash is what rejects a wrong file, and the real loader is exercised either way.
    torch.save(reference.state_dict(), target)
    assert bb.check_weights_available(choice) == "cached"
    monkeypatch.setattr("torchvision.models._api.WeightsEnum.get_state_dict",
                        lambda self, *a, **k: torch.hub.load_state_dict_from_url(
                            self.url, **{**k, "check_hash": False}))
    model = bb.build_base("shufflenet_v2_x0_5", choice)
    for k, v in reference.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_uncached_weights_offline_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(bb, "_reachable", lambda url, timeout=3.0: False)
    with pytest.raises(WeightsError) as info:
        bb.check_weights_available(bb.resolve_weights("resnet18", "DEFAULT"), key="backbones[0].weights")
    msg = str(info.value)
    assert "resnet18-f37072fd.pth" in msg and str(tmp_path) in msg and "efficientnet_lite0" in msg


def test_state_dict_path_loads_with_weights_only(tmp_path) -> None:
    src = bb.build_base("resnet18", bb.WeightsChoice("none"))
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)
    model = bb.build_base("resnet18", bb.resolve_weights("resnet18", str(path)))
    assert torch.equal(model.conv1.weight, src.conv1.weight)
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="does not fit"):
        bb.build_base("resnet18", bb.resolve_weights("resnet18", str(bad)))


def _load_error(tmp_path, payload, *, name: str = "resnet18", text: bool = False) -> str:
    path = tmp_path / "w.pth"
    if text:
        path.write_text(payload)
    else:
        torch.save(payload, path)
    with pytest.raises(WeightsError) as info:
        bb.build_base(name, bb.resolve_weights(name, str(path)))
    assert str(path) in str(info.value)
    return str(info.value)


def test_weights_file_that_loads_nothing_is_an_error(tmp_path) -> None:
    assert "cannot load state dict" in _load_error(tmp_path, "these are not weights\n", text=True)
    assert "not a state dict" in _load_error(tmp_path, [torch.zeros(3)])
    src = bb.build_base("resnet18", bb.WeightsChoice("none")).state_dict()
    msg = _load_error(tmp_path, {f"encoder.{k}": v for k, v in src.items()})
    assert f"0 of {len(src)} tensors match" in msg
    # Every name matches but every shape is wrong (another width): nothing would load.
    wrong = {k: torch.zeros(*(d + 1 for d in v.shape)) if v.ndim else v for k, v in src.items()}
    assert "of another shape outside the head" in _load_error(tmp_path, wrong)
    # A partial backbone (the last block absent) would train a half-random network called pretrained.
    partial = {k: v for k, v in src.items() if not k.startswith("layer4.")}
    assert "missing layer4." in _load_error(tmp_path, partial)


def test_checkpoint_with_another_head_loads_everything_else(tmp_path, caplog) -> None:
    src = bb.build_model("resnet18", bb.WeightsChoice("none"), num_outputs=3).model
    path = tmp_path / "three_classes.pth"
    torch.save(src.state_dict(), path)
    with caplog.at_level("INFO"):
        model = bb.build_base("resnet18", bb.resolve_weights("resnet18", str(path)))
    assert torch.equal(model.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
    n = len(src.state_dict())
    assert f"loaded {n - 2} of {n} tensors" in caplog.text  # all but fc.weight and fc.bias


def test_offline_lite_weights_are_real_imagenet_weights() -> None:
    pretrained = bb.build_base("efficientnet_lite0", bb.WeightsChoice("offline"))
    random = bb.build_base("efficientnet_lite0", bb.WeightsChoice("none"))
    assert sum(p.numel() for p in pretrained.parameters()) == 4_652_008
    assert not torch.equal(pretrained._conv_stem.weight, random._conv_stem.weight)
    # ImageNet BN statistics, not the (0, 1) of a fresh network
    assert float(pretrained._bn0.running_var.mean()) != pytest.approx(1.0, abs=1e-3)


def test_lite_batchnorm_statistics_follow_the_data() -> None:
    """A from-scratch Lite0's eval-mode outputs must not collapse to one value (the demo's scratch cell did).

    The package's BatchNorm momentum (0.01) left a third of the running statistics at their init after
    the demo's ~120 steps; in eval mode every image then gave the same logits.
    """
    import numpy as np

    from reportgen.models import lite
    from tests.conftest import DEMO_NPZ

    images = np.load(DEMO_NPZ)["train_images"][:640]
    x = torch.nn.functional.interpolate(torch.from_numpy(images).float()[:, None] / 255, size=32, mode="bilinear")
    x = ((x - 0.498) / 0.502).repeat(1, 3, 1, 1)
    torch.manual_seed(0)
    model = lite.build("efficientnet_lite0", pretrained=False)
    assert {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {lite.BN_MOMENTUM}
    model.train()
    with torch.no_grad():
        for step in range(100):  # training-mode passes update the running statistics, as training does
            start = step * 16 % 640
            model(x[start:start + 16])
        train_spread = model(x[:256]).std(0).mean()
        model.eval()
        eval_spread = model(x[:256]).std(0).mean()
    assert eval_spread > 0.5 * train_spread  # 5e-9 vs 0.40 with the package's momentum
