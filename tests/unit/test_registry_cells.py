"""Every supported backbone × strategy × stem, timm style, driven by the registries: each combination builds
(on the meta device: shapes only) for both losses, has the head its loss needs, and trains exactly what its
strategy's stages say (``reportgen.registry.strategies``, applied by ``models.strategies``), or is refused with
a reason. Every backbone then runs one real CPU forward and backward per kind of stage (head only / all) at
the smallest input it takes, and a representative subset takes real optimisation steps, stage by stage.

The full sweep is ``slow``; the default tier runs the representative backbones (one per family) on the meta
device and the forward pass of every backbone under 12 M parameters that takes 64 px.
"""

from __future__ import annotations

import copy
import functools

import pytest
import torch
from torch import nn

from reportgen.models import backbones as bb
from reportgen.models import strategies
from reportgen.models.backbones import WeightsChoice, build_model, family, known_backbones
from reportgen.models.stem import stem_problem
from reportgen.registry import strategies as strategy_registry
from reportgen.train.loop import make_loss

REPRESENTATIVE = ("resnet18", "densenet121", "squeezenet1_1", "regnet_y_400mf", "mobilenet_v3_small",
                  "shufflenet_v2_x0_5", "efficientnet_b0", "convnext_tiny", "vit_b_16", "googlenet",
                  "efficientnet_lite0", "smallcnn", "mlp")
# Built on the CPU and then moved to meta (RegNet's width computation needs real tensors): too large to
# initialise in a sweep.
TOO_LARGE_FOR_CPU_BUILD = ("regnet_y_128gf", "regnet_y_32gf", "regnet_x_32gf", "regnet_y_16gf", "regnet_x_16gf")
STEMS = ("default", "small")
LOSSES = ("ce", "bce")
STEP_SIZE = {"mlp": 32, "smallcnn": 32}  # the rest at 64 px
# Kept out of the default forward pass (still swept by `make test-all`): big networks, whose random
# initialisation alone takes seconds on a CPU, and networks that need 224 px inputs.
HEAVY = 12e6
# The kinds of stage the registry's strategies are made of: a forward pass differs only by these.
STAGE_KINDS = tuple(dict.fromkeys(st.trains for s in strategy_registry.REGISTRY for st in s.stages))


def combos(names):
    return [pytest.param(n, s.name, stem, id=f"{n}-{s.name}-{stem}")
            for n in names for s in strategy_registry.REGISTRY for stem in STEMS]


@functools.lru_cache(maxsize=8)
def meta_build(name: str, *, stem: str, loss: str):
    """Shared by the strategies of one backbone: set_stage sets requires_grad on every parameter each time."""
    outputs = 1 if loss == "bce" else 2
    # Scratch weights: what is built is the architecture; a pretrained start changes values, not which
    # parameters train (the stem's random conv is recorded the same way, see test_cell_builds).
    choice = WeightsChoice("none")
    try:
        with torch.device("meta"):
            return build_model(name, choice, num_outputs=outputs, input_size=64, stem=stem)
    except NotImplementedError:
        if name in TOO_LARGE_FOR_CPU_BUILD:
            pytest.skip(f"{name} builds only on the CPU (RegNet widths) and is too large for this sweep")
        built = build_model(name, choice, num_outputs=outputs, input_size=64, stem=stem)
        built.model.to("meta")
        return built


def expected_trainable(built, trains: str) -> set[str]:
    """The definition, spelled out independently of set_stage: a head-only stage trains the head's
    parameters and, for a random small stem, the new first conv and the BatchNorm after it."""
    names = [n for n, _ in built.model.named_parameters()]
    if trains == "all":
        return set(names)
    extra = list((built.stem or {}).get("random_init", []))
    if extra:  # the BatchNorm that follows the random conv (its statistics described the old one)
        extra += {"conv1": ["bn1"], "features.conv0": ["features.norm0"]}[extra[0]]
    roots = [built.head_path] + extra
    return {n for n in names if any(n.startswith(r + ".") for r in roots)}


def check_combo(name: str, strategy: str, stem: str) -> None:
    if stem == "small" and stem_problem(name):
        assert "no small-input stem" in stem_problem(name)  # refused at validate with this reason
        return
    if family(name) == "baseline" and (stem == "small" or strategy_registry.get(strategy).needs_pretrained):
        return  # baselines have no pretrained weights: the matrix skips these combinations with a reason
    for loss in LOSSES:
        built = meta_build(name, stem=stem, loss=loss)
        head = built.model.get_submodule(built.head_path)
        out = getattr(head, "out_features", None) or getattr(head, "out_channels", None)
        assert out == (1 if loss == "bce" else 2)
        for stage in strategies.stages(strategy):
            strategies.set_stage(built.model, built.head_path, frozen=stage.trains == "head")
            got = {n for n, p in built.model.named_parameters() if p.requires_grad}
            assert got == expected_trainable(built, stage.trains), (strategy, stage, loss)
            assert got, f"{name} {strategy}/{stage.name}: nothing trains"


@pytest.mark.parametrize(("name", "strategy", "stem"), combos(REPRESENTATIVE))
def test_representative_combination_builds_and_trains_what_its_strategy_says(name, strategy, stem) -> None:
    check_combo(name, strategy, stem)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "strategy", "stem"),
                         combos([n for n in known_backbones() if n not in REPRESENTATIVE]))
def test_every_combination_builds_and_trains_what_its_strategy_says(name, strategy, stem) -> None:
    check_combo(name, strategy, stem)


# --------------------------------------------------------------------------- one real forward per backbone
def _params(name: str) -> float:
    if bb.family(name) != "torchvision":
        return 0
    from torchvision.models import get_model_weights

    return get_model_weights(name).DEFAULT.meta["num_params"]


_SIZE_CACHE: dict[str, int] = {}


def _size(name: str) -> int:
    """32 px, or the weights' published minimum (224 for ViT); cheap enough for collection time."""
    if name not in _SIZE_CACHE:
        size = 32
        if bb.family(name) == "torchvision":
            from torchvision.models import get_model_weights

            size = max(32, *get_model_weights(name).DEFAULT.meta.get("min_size", (32, 32)))
        _SIZE_CACHE[name] = size
    return _SIZE_CACHE[name]


def _forward_cases():
    for name in bb.known_backbones():
        marks = [pytest.mark.slow] if _params(name) > HEAVY or _size(name) > 64 else []
        for trains in STAGE_KINDS:
            if trains == "head" and bb.family(name) == "baseline":
                continue  # every head-only stage belongs to a strategy that needs pretrained weights
            yield pytest.param(name, trains, marks=marks, id=f"{name}-{trains}")


@functools.lru_cache(maxsize=1)
def _built(name: str) -> bb.BuiltModel:
    torch.manual_seed(0)
    return bb.build_model(name, bb.WeightsChoice("none"), num_outputs=3, input_size=_size(name))


@pytest.mark.parametrize(("name", "trains"), list(_forward_cases()))
def test_forward_and_backward_reach_only_what_the_stage_trains(name: str, trains: str) -> None:
    """A real CPU forward at the smallest input: gradients reach the head always and the backbone only in an
    all-parameters stage; a head-only stage keeps the backbone in eval mode (BatchNorm statistics fixed)."""
    size = _size(name)
    built = copy.copy(_built(name))  # built once per backbone; each stage kind gets its own copy
    built.model = copy.deepcopy(built.model)
    model = built.model
    head = model.get_submodule(built.head_path)
    frozen = trains == "head"
    strategies.set_stage(model, built.head_path, frozen=frozen)
    strategies.train_mode(model, built.head_path, frozen=frozen)
    before = strategies.bn_state(model, built.head_path)
    x = torch.randn(2, 3, size, size)
    out = model(x)
    assert out.shape == (2, 3)
    out.float().pow(2).mean().backward()
    head_ids = {id(p) for p in head.parameters()}
    assert all(p.grad is not None for p in head.parameters())
    for p in model.parameters():
        if id(p) not in head_ids:
            assert (p.grad is None) == frozen
    if frozen:
        assert strategies.max_drift(before, strategies.bn_state(model, built.head_path)) == 0.0
        assert not any(m.training for n, m in model.named_modules() if not n.startswith(built.head_path) and n)


STEP = [("resnet18", "small", "ce", "warmup"), ("resnet18", "small", "bce", "frozen"),
        ("squeezenet1_1", "default", "bce", "warmup"), ("regnet_y_400mf", "default", "ce", "finetune"),
        ("mobilenet_v3_small", "small", "bce", "scratch"), ("efficientnet_lite0", "default", "ce", "warmup"),
        ("smallcnn", "default", "bce", "scratch"), ("mlp", "default", "ce", "scratch")]


@pytest.mark.parametrize(("name", "stem", "loss", "strategy"), STEP, ids=["-".join(s) for s in STEP])
def test_one_cpu_step_per_stage_moves_exactly_the_trainable_parameters(name, stem, loss, strategy) -> None:
    torch.manual_seed(0)
    built = build_model(name, WeightsChoice("none"), num_outputs=1 if loss == "bce" else 2,
                        input_size=STEP_SIZE.get(name, 64), stem=stem)
    model = built.model
    size = STEP_SIZE.get(name, 64)
    x, y = torch.randn(4, 3, size, size), torch.tensor([0, 1, 0, 1])
    train = {"loss": loss, "label_smoothing": 0.0}
    loss_fn = make_loss(train, weights=None, device=torch.device("cpu"))
    strategies.set_stage(model, built.head_path, frozen=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for stage in strategies.stages(strategy):
        frozen = stage.trains == "head"
        strategies.set_stage(model, built.head_path, frozen=frozen)
        strategies.train_mode(model, built.head_path, frozen=frozen)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        assert logits.shape == (4, 1 if loss == "bce" else 2)
        loss_fn(logits, y).backward()
        opt.step()
        moved = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
        should = expected_trainable(built, stage.trains)
        assert moved <= should, f"{stage.name}: frozen parameters moved: {sorted(moved - should)[:3]}"
        head = {n for n in should if n.startswith(built.head_path + ".")}
        assert head <= moved, f"{stage.name}: the head did not move"
        if stem == "small" and frozen and built.stem["random_init"]:
            assert any(n.startswith(built.stem["random_init"][0] + ".") for n in moved), "the random stem is frozen"
    if loss == "bce":
        model.eval()
        with torch.no_grad():
            assert isinstance(model(x), torch.Tensor)


def test_squeezenet_head_is_not_followed_by_an_activation() -> None:
    with torch.device("meta"):
        built = build_model("squeezenet1_0", WeightsChoice("none"), num_outputs=1, input_size=64)
    after = list(built.model.classifier)[2]
    assert isinstance(after, nn.Identity)
