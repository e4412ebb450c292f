"""Grad-CAM target layers for every supported backbone, and CAM on frozen models (pytorch-grad-cam#254)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from reportgen.explain.cam import grad_cam, gradients_enabled, target_layer
from reportgen.explain.targets import TargetSpec, reshape_fn, target_spec
from reportgen.models import baselines, lite
from reportgen.models.backbones import WeightsChoice, build_model, family, known_backbones
from reportgen.models.strategies import set_stage

pytest.importorskip("pytorch_grad_cam")

# The smallest member of each registry family, run for real (weights=None) at a small size in the default suite;
# `-m slow` runs every backbone for real.
# (Two CPU cores are shared by the whole team: the heavier families' smallest members run with -m slow.)
REPRESENTATIVES = ("resnet18", "mobilenet_v3_small", "mnasnet0_5", "shufflenet_v2_x0_5", "regnet_x_400mf",
                   "squeezenet1_1", "densenet121", "efficientnet_lite0", "smallcnn")
SIZE_224 = ("vit", "maxvit")  # fixed input size


@contextlib.contextmanager
def _empty_weights() -> Iterator[None]:
    """Parameters and buffers are created on the meta device (no memory, no init compute); other tensors
    (RegNet computes its widths with ``tolist()``) stay real — what accelerate's ``init_empty_weights`` does."""
    reg_param, reg_buffer = torch.nn.Module.register_parameter, torch.nn.Module.register_buffer

    def param(self, name, p):
        reg_param(self, name, p)
        if p is not None:
            self._parameters[name] = torch.nn.Parameter(p.to("meta"), requires_grad=p.requires_grad)

    def buffer(self, name, b, persistent=True):
        reg_buffer(self, name, b.to("meta") if b is not None else b, persistent)

    torch.nn.Module.register_parameter, torch.nn.Module.register_buffer = param, buffer
    try:
        yield
    finally:
        torch.nn.Module.register_parameter, torch.nn.Module.register_buffer = reg_param, reg_buffer


def _meta_model(name: str) -> torch.nn.Module:
    with _empty_weights():
        if family(name) == "baseline":
            return baselines.BUILDERS[name](input_size=64)
        if family(name) == "lite":
            return lite.build(name, pretrained=False)
        from torchvision.models import get_model

        return get_model(name, weights=None)


def _size(name: str) -> int:
    """A small input every backbone takes (ViT and MaxViT only take 224 px; Inception v3 needs 75)."""
    if name.startswith(SIZE_224):
        return 224
    return 96 if name.startswith(("inception", "alexnet", "googlenet")) else 64


@pytest.mark.parametrize("name", known_backbones())
def test_every_backbone_has_a_target_layer_with_a_spatial_map(name: str) -> None:
    """Resolved on the meta device (no compute): the layer exists and gives a (B, C, H, W) map after reshape."""
    spec = target_spec(name)
    if name == "mlp":
        assert isinstance(spec, str) and "no spatial" in spec
        return
    assert isinstance(spec, TargetSpec), spec
    model = _meta_model(name).eval()
    size = 224  # on the meta device the size costs nothing; every backbone takes 224 px
    seen: list[torch.Tensor] = []
    with target_layer(model, spec) as (_, layer):
        hook = layer.register_forward_hook(lambda m, i, o: seen.append(o))
        try:
            model(torch.empty(1, 3, size, size, device="meta"))
        finally:
            hook.remove()
    assert len(seen) == 1, f"{name}: target layer ran {len(seen)} times per forward"
    fn = reshape_fn(spec.reshape)
    out = fn(seen[0]) if fn else seen[0]
    assert out.dim() == 4 and out.shape[2] >= 1 and out.shape[3] >= 1, (name, tuple(out.shape))
    assert out.shape[1] > 3, f"{name}: {tuple(out.shape)} looks like an image, not a feature map"


def _cam_run(name: str) -> None:
    size = _size(name)
    built = build_model(name, WeightsChoice("none"), num_outputs=3, input_size=size)
    model = built.model.eval()
    spec = target_spec(name)
    assert isinstance(spec, TargetSpec)
    x = torch.rand(2, 3, size, size)
    res = grad_cam(model, x, [0, 2], spec)
    assert res.maps.shape == (2, size, size)
    assert np.isfinite(res.maps).all() and res.maps.min() >= 0 and res.maps.max() <= 1 + 1e-6
    assert res.grid and all(g >= 1 for g in res.grid)
    with torch.inference_mode():
        again = model(x)
    assert again.shape == (2, 3)  # the model still works after the CAM (the probe is gone)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_grad_cam_runs_on_one_backbone_per_family(name: str) -> None:
    torch.manual_seed(0)
    _cam_run(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in known_backbones() if n != "mlp" and n not in REPRESENTATIVES])
def test_grad_cam_runs_on_every_backbone(name: str) -> None:
    torch.manual_seed(0)
    _cam_run(name)


def _xrays(n: int, size: int) -> torch.Tensor:
    """Real PneumoniaMNIST test images, uint8 (n, 1, size, size)."""
    from realstore import DEMO_NPZ

    imgs = np.load(DEMO_NPZ)["test_images"][:n]
    x = torch.from_numpy(imgs).float()[:, None]
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear").round().clamp(0, 255).to(torch.uint8)


def test_cam_on_a_frozen_model_is_non_zero_equals_the_unfrozen_cam_and_restores_requires_grad() -> None:
    """A frozen backbone (requires_grad=False, as a frozen/warm-up cell leaves it) gets the very CAM the same
    weights give with gradients on, under a caller's no_grad too; every flag and the mode come back."""
    from reportgen.data.batches import to_model_input

    torch.manual_seed(0)
    built = build_model("efficientnet_lite0", WeightsChoice("offline"), num_outputs=2, input_size=96)
    model = built.model
    x = to_model_input(_xrays(4, 96), built.normalization)
    spec = target_spec("efficientnet_lite0")
    reference = grad_cam(model, x, [0, 1, 0, 1], spec).maps  # nothing frozen
    set_stage(model, built.head_path, frozen=True)
    model.train()  # as a cell may leave it: the CAM must run in eval mode and restore this
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    assert not all(before.values()) and any(before.values())
    with torch.no_grad():  # a caller under no_grad must not turn the CAM into nothing
        res = grad_cam(model, x, [0, 1, 0, 1], spec)
    assert res.grid == [3, 3]
    assert any(m.max() > 0 for m in res.maps) and float(res.maps.sum()) > 0
    np.testing.assert_allclose(res.maps, reference, atol=1e-4)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == before
    assert all(p.grad is None for p in model.parameters())
    assert model.training and "extract_features" not in vars(model)


def test_gradients_enabled_restores_flags_even_on_error() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    model[0].weight.requires_grad_(False)
    model.train()
    with pytest.raises(RuntimeError), gradients_enabled(model):
        assert model[0].weight.requires_grad and not model.training
        raise RuntimeError("boom")
    assert not model[0].weight.requires_grad and model[1].weight.requires_grad and model.training
