"""Architecture statistics against torchvision's published numbers (no weights are downloaded)."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn

from reportgen.errors import WeightsError
from reportgen.models.inspect import format_inspect, inspect_table
from reportgen.models.stats import arch_stats, count_macs, count_params
from reportgen.models.weights_meta import weights_meta, weights_meta_for

torch.set_num_threads(1)

RESNET18_PARAMS = 11_689_512


@pytest.fixture(scope="module")
def resnet18():
    return torchvision.models.get_model("resnet18", weights=None)


def test_resnet18_params_and_macs_match_published(resnet18):
    meta = weights_meta(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    stats = arch_stats(resnet18, input_size=224, weights=meta)
    assert stats["params_total"] == RESNET18_PARAMS == meta["num_params"]
    assert stats["params_trainable"] == RESNET18_PARAMS and stats["params_frozen"] == 0
    assert stats["param_bytes"] == 4 * RESNET18_PARAMS
    assert meta["gflops"] == pytest.approx(1.814)
    assert stats["macs"] == pytest.approx(1.814e9, rel=0.01)
    assert stats["macs_tool"] == "fvcore"
    assert stats["macs_counter"] == 1_814_073_344  # conv + linear MACs, FlopCounterMode's FLOPs / 2
    assert stats["macs_torchinfo"] == pytest.approx(1.814e9, rel=0.01)
    assert 0.99 < stats["macs_at_224_vs_meta"] < 1.01
    assert stats["macs_published"] == 1_814_000_000 and stats["published_size"] == 224
    assert stats["params_published"] == RESNET18_PARAMS and stats["params_note"] is None
    assert stats["torchinfo_error"] is None
    json.dumps(stats)  # arch.json must be writable as is


def test_weights_meta_fields():
    meta = weights_meta_for("resnet18", "DEFAULT")
    assert meta["name"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert meta["acc1"] == pytest.approx(69.758) and meta["acc5"] == pytest.approx(89.078)
    assert meta["file_size_mb"] == pytest.approx(44.661)
    assert meta["url"].endswith(".pth") and meta["crop_size"] == 224
    assert weights_meta_for("resnet18", "ResNet18_Weights.IMAGENET1K_V1") == meta
    assert weights_meta_for("resnet18", "IMAGENET1K_V1") == meta
    assert weights_meta_for("resnet18", "none") is None
    assert weights_meta_for("resnet18", "ckpt/resnet18.pth") is None
    assert weights_meta_for("my_custom_net", "DEFAULT") is None


def test_unknown_weights_name_is_a_user_error():
    with pytest.raises(WeightsError, match="IMAGENET1K_V9"):
        weights_meta_for("resnet18", "IMAGENET1K_V9")


def test_offline_lite_family_has_params_only():
    meta = weights_meta_for("efficientnet_lite0", "offline")
    assert meta["num_params"] == 4_652_008
    assert meta["name"].startswith("efficientnet-lite0") and meta["acc1"] is None and meta["gflops"] is None


def test_frozen_part_counted():
    model = nn.Sequential(nn.Linear(10, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
    for p in model[0].parameters():
        p.requires_grad = False
    assert count_params(model) == {"total": 55 + 10 + 12, "trainable": 10 + 12, "frozen": 55}


def test_training_flags_restored(resnet18):
    resnet18.train()
    for m in resnet18.modules():  # a "frozen" strategy: BN layers in eval inside a training model
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    before = [m.training for m in resnet18.modules()]
    running = resnet18.bn1.running_mean.clone()
    count_macs(resnet18, 32)
    assert [m.training for m in resnet18.modules()] == before
    assert torch.equal(resnet18.bn1.running_mean, running)


def test_convnext_torchinfo_undercount_is_reported():
    model = torchvision.models.get_model("convnext_tiny", weights=None)
    out = count_macs(model, 64)
    # ConvNeXt's block does its layer scale and residual add functionally: torchinfo misses them and
    # more; fvcore's count scales with the pixels to ≈ 4.47 G at 224 (≈ 0.366 G at 64).
    assert out["macs"] == pytest.approx(4.47e9 * (64 / 224) ** 2, rel=0.1)
    assert out["macs_torchinfo"] < 0.2 * out["macs"]
    assert "aten::gelu" in out["unsupported_ops"]


def test_untraceable_input_size_returns_none_with_reason():
    model = torchvision.models.get_model("squeezenet1_0", weights=None)
    out = count_macs(model, 8)  # too small for its pooling stack
    assert out["macs"] is None and "fvcore" in out["errors"]


def test_vit_attention_is_counted():
    # fvcore has no handler for the attention (vit_b_32 at 224: 2.95 G of 4.41 G); the counter sees it.
    d = inspect_table("vit_b_32", size=224)
    assert d["macs_fvcore"] < 0.7 * d["macs_published"]
    assert d["macs_tool"] == "flop_counter"
    assert d["macs"] == d["macs_counter"] == pytest.approx(d["macs_published"], rel=0.01)
    assert d["params_total"] == d["params_published"] == 88_224_232
    assert any("attention" in op for op in d["macs_unsupported_ops"])


def test_frozen_attention_still_counted():
    # Frozen parameters let nn.MultiheadAttention take its fused fast path, which no counter sees.
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                 hidden_dim=32, mlp_dim=64, num_classes=2)
    trained = count_macs(model, 32)["macs_counter"]
    for p in model.parameters():
        p.requires_grad = False
    assert count_macs(model, 32)["macs_counter"] == trained
    tokens, dim = 17, 32  # 16 patches + the class token
    attention = 2 * 2 * tokens * tokens * (dim // 2)  # Q·Kᵀ and A·V, per layer
    assert trained > 2 * attention


def test_googlenet_counted_as_built_without_aux_heads():
    d = inspect_table("googlenet", size=224)
    assert d["params_total"] == d["params_published"] == 6_624_904  # 13.0 M with the aux heads
    assert d["params_aux_dropped"] == 13_004_888 - 6_624_904
    assert "auxiliary" in d["params_note"] and "as in the published count" in d["params_note"]
    assert "auxiliary" in format_inspect(d)


def test_inception_published_count_includes_its_aux_head():
    d = inspect_table("inception_v3", size=299)
    assert d["params_total"] + d["params_aux_dropped"] == d["params_published"] == 27_161_264
    assert "the published count includes them (3,326,696 parameters)" in d["params_note"]


def test_torchinfo_failure_is_a_note_not_a_zero(monkeypatch):
    import torchinfo

    def broken(*args, **kwargs):
        raise RuntimeError("Failed to run torchinfo")

    monkeypatch.setattr(torchinfo, "summary", broken)
    model = torchvision.models.get_model("mobilenet_v3_small", weights=None)
    stats = arch_stats(model, input_size=64)
    assert stats["macs_torchinfo"] is None and "RuntimeError" in stats["torchinfo_error"]
    assert stats["macs"] > 0


def test_inspect_table_and_format():
    d = inspect_table("mobilenet_v3_small", size=64)
    assert d["imagenet"]["name"] == "MobileNet_V3_Small_Weights.IMAGENET1K_V1"
    assert d["params_total"] == d["imagenet"]["num_params"]
    text = format_inspect(d)
    assert "mobilenet_v3_small" in text and "GMACs" in text and "67.668" in text
    assert "params published" in text and "MACs @224px published" in text and "MACs difference" in text


def _small_torchvision_classifiers(max_gflops: float = 6.0) -> list[str]:
    names = []
    for name in torchvision.models.list_models(module=torchvision.models):
        ops = torchvision.models.get_model_weights(name).DEFAULT.meta.get("_ops")
        if ops is not None and ops <= max_gflops:
            names.append(name)
    return names


@pytest.mark.slow
@pytest.mark.parametrize("name", _small_torchvision_classifiers())
def test_counts_match_published(name):
    """Every torchvision classifier of ≤ 6 GFLOPS, at its weights' crop size, against its own metadata."""
    meta = weights_meta_for(name, "DEFAULT")
    d = inspect_table(name, size=meta["crop_size"])
    # Inception v3's published count includes its training-only AuxLogits, which reportgen drops.
    assert d["params_total"] + (d["params_aux_dropped"] or 0) == meta["num_params"], d["params_note"]
    assert d["params_total"] == meta["num_params"] or "published count includes them" in d["params_note"]
    assert d["macs"] == pytest.approx(meta["gflops"] * 1e9, rel=0.07), (d["macs_tool"], d["macs_fvcore"],
                                                                        d["macs_counter"])
