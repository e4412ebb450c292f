"""The CUDA-facing paths of the loop, proven on CPU: OOM back-off by fault injection, compile + frozen,
bf16 autocast, no per-batch host syncs, and torch's global flags restored after a cell.

Real PneumoniaMNIST images (28 px) through the real Forward/normalization path and a real backbone
(``smallcnn``: conv–BatchNorm blocks, so BatchNorm statistics and optimizer moments are at stake).
"""

from __future__ import annotations

import copy
import sys
import weakref
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import reportgen
from reportgen.config import TRAIN_KEYS, load_experiment
from reportgen.models.backbones import BuiltModel, WeightsChoice, build_model
from reportgen.models.strategies import bn_state, max_drift
from reportgen.train import cell as cell_runner
from reportgen.train import device as device_mod
from reportgen.train.device import EpochStart, backoff, torch_flags
from reportgen.train.environment import environment
from reportgen.train.features import head_inputs as cached_features
from reportgen.train.loop import (
    Forward,
    LoopConfig,
    Split,
    amp_dtype,
    fit,
    make_loss,
    predict,
    train_one_epoch,
)
from reportgen.train.preflight import preflight
from tests.conftest import DEMO_NPZ, tiny_npz_experiment

CPU = torch.device("cpu")


# --------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def splits() -> tuple[Split, Split]:
    d = np.load(DEMO_NPZ)
    x, y = d["train_images"][:, None], d["train_labels"][:, 0].astype(np.int64)
    return Split(images=x[:96], labels=y[:96]), Split(images=x[96:176], labels=y[96:176])


def cfg(**over) -> dict:
    t = {k: v[0] for k, v in TRAIN_KEYS.items()}
    t.update({"epochs": 2, "batch_size": 32, "scheduler": "cosine", "augment": "flips", "patience": 0,
              "optimizer": "adamw", "lr": 3e-3, "selection_metric": "val_loss"})
    t.update(over)
    return t


def smallcnn() -> BuiltModel:
    torch.manual_seed(0)
    return build_model("smallcnn", WeightsChoice("none"), num_outputs=2, input_size=28)


def train(built: BuiltModel, tr: Split, va: Split, *, strategy: str = "finetune", module: nn.Module | None = None,
          **over):
    lc = LoopConfig(strategy=strategy, train=cfg(**over), num_classes=2, device=CPU, seed=0)
    fwd = Forward(module=module or built.model, norm=built.normalization)
    return fit(fwd, head_path=built.head_path, train=tr, val=va, cfg=lc, full_model=built.model)


class OOMAt:
    """Fault injection: a forward pre-hook raising ``torch.OutOfMemoryError`` from the ``call``-th forward
    in the given mode on, whenever the batch is larger than ``above`` (as a real OOM would)."""

    def __init__(self, module: nn.Module, *, training: bool, call: int, above: int) -> None:
        self.training, self.call, self.above = training, call, above
        self.calls = self.raised = 0
        self.handle = module.register_forward_pre_hook(self)

    def __call__(self, module: nn.Module, args: tuple) -> None:
        if module.training != self.training:
            return
        self.calls += 1
        if self.calls >= self.call and args[0].shape[0] > self.above:
            self.raised += 1
            raise torch.OutOfMemoryError("injected: CUDA out of memory")


def same_rows(a: list[dict], b: list[dict]) -> bool:
    drop = {"seconds", "peak_mem_mb"}
    return [{k: v for k, v in r.items() if k not in drop} for r in a] == \
        [{k: v for k, v in r.items() if k not in drop} for r in b]


# --------------------------------------------------------------------------- OOM back-off
def test_training_oom_reruns_the_epoch_from_its_start_with_half_the_batch(splits) -> None:
    """OOM at the 3rd batch (after two optimizer steps moved weights, Adam moments, BN statistics and
    the shuffle/flip stream): the result must equal training with batch 16 from the start."""
    tr, va = splits
    ref = train(smallcnn(), tr, va, batch_size=16)
    built = smallcnn()
    inj = OOMAt(built.model, training=True, call=3, above=16)
    got = train(built, tr, va, batch_size=32)
    assert inj.raised == 1
    assert got.oom_retries == 1 and got.batch_size_used == 16
    assert same_rows(got.epochs, ref.epochs)
    for k, v in ref.best_state.items():
        assert torch.equal(got.best_state[k], v), k


def test_evaluation_oom_halves_the_batch_and_gives_the_same_probabilities(splits) -> None:
    _, va = splits
    built = smallcnn()
    lc = LoopConfig(strategy="finetune", train=cfg(), num_classes=2, device=CPU, seed=0)
    fwd = Forward(module=built.model, norm=built.normalization)
    loss = make_loss(lc.train, weights=None, device=CPU)
    ref, ref_loss = predict(fwd, va, cfg=lc, batch_size=16, dtype=None, loss_fn=loss)
    inj = OOMAt(built.model, training=False, call=2, above=16)
    got, got_loss = predict(fwd, va, cfg=lc, batch_size=32, dtype=None, loss_fn=loss)
    assert inj.raised == 1  # the 2nd batch of 32: the split restarts at 16
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    assert got_loss == pytest.approx(ref_loss, rel=1e-6)


def test_validation_oom_inside_fit_changes_nothing(splits) -> None:
    tr, va = splits
    ref = train(smallcnn(), tr, va, eval_batch_size=32)
    built = smallcnn()
    inj = OOMAt(built.model, training=False, call=2, above=16)
    got = train(built, tr, va, eval_batch_size=32)
    assert inj.raised == 2  # once per epoch's validation pass
    for a, b in zip(got.epochs, ref.epochs, strict=True):  # batch 32 instead of 64: the same numbers to fp32 noise
        assert a["train_loss"] == b["train_loss"] and a["val_acc"] == b["val_acc"]
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)


def test_feature_extraction_oom_halves_the_batch(splits) -> None:
    _, va = splits
    built = smallcnn()
    ref = cached_features(built, va, device=CPU, batch_size=16)
    inj = OOMAt(built.model, training=False, call=2, above=16)
    got = cached_features(built, va, device=CPU, batch_size=32)
    assert inj.raised == 1 and ref is not None and got is not None
    assert got.shape == (len(va.labels), 256)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)


def test_backoff_frees_the_failed_batch_before_releasing_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """empty_cache() can only return what nothing references: the failed attempt's frames (and the
    batch in them) must be gone when memory is released, i.e. outside the ``except`` block."""
    refs: list[weakref.ref] = []

    def attempt(bs: int) -> int:
        batch = torch.empty(bs, 1000)
        refs.append(weakref.ref(batch))
        if bs > 4:
            raise torch.OutOfMemoryError("injected")
        return bs

    seen: list[list[bool]] = []
    monkeypatch.setattr(device_mod, "release_memory", lambda: seen.append([r() is None for r in refs]))
    assert backoff(attempt, 16, what="test") == (4, 4, 2)
    assert seen == [[True], [True, True]]
    with pytest.raises(torch.OutOfMemoryError):
        backoff(lambda bs: (_ for _ in ()).throw(torch.OutOfMemoryError("x")), 2, what="test")


def test_epoch_start_restores_weights_optimizer_scheduler_and_random_streams() -> None:
    built = smallcnn()
    model = built.model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 28, 28)

    def step() -> None:
        model.train()
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
        sched.step()

    step()  # non-trivial optimizer state before the snapshot
    snap = EpochStart.capture(model, opt, sched, None, [gen])
    expected = (torch.rand(3, generator=gen), torch.rand(3))
    state, moments = {k: v.clone() for k, v in model.state_dict().items()}, copy.deepcopy(opt.state_dict())
    step()
    step()
    snap.restore(model, opt, sched, None, [gen])
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    restored = opt.state_dict()
    for i, s in moments["state"].items():
        assert all(torch.equal(s[k], restored["state"][i][k]) for k in s)
    assert sched.last_epoch == 1 and opt.param_groups[0]["lr"] == pytest.approx(sched.get_last_lr()[0])
    assert torch.equal(torch.rand(3, generator=gen), expected[0]) and torch.equal(torch.rand(3), expected[1])


# --------------------------------------------------------------------------- compile + frozen
def _frozen_with_compile(splits, backend: str) -> None:
    tr, va = splits
    built = smallcnn()
    before = bn_state(built.model, built.head_path)
    head0 = built.model.get_submodule(built.head_path).weight.detach().clone()
    compiled = torch.compile(built.model, backend=backend)
    res = train(built, tr, va, strategy="frozen", module=compiled, epochs=1)
    assert max_drift(before, bn_state(built.model, built.head_path)) == 0.0, "frozen BN statistics moved"
    assert not torch.equal(res.best_state[f"{built.head_path}.weight"], head0), "the head did not train"


def test_compiled_model_keeps_a_frozen_backbone_in_eval_mode(splits) -> None:
    """torch.compile's wrapper forwards .train() to every submodule; the loop must re-apply the
    strategy's modes after it (the same wrapping as inductor, without the ~40 s CPU compile)."""
    _frozen_with_compile(splits, "eager")


@pytest.mark.slow
def test_compiled_model_keeps_a_frozen_backbone_in_eval_mode_inductor(splits) -> None:
    _frozen_with_compile(splits, "inductor")


# --------------------------------------------------------------------------- autocast on CPU
def test_amp_dtype_on_cpu_only_when_asked() -> None:
    assert amp_dtype("auto", CPU) is None and amp_dtype("off", CPU) is None and amp_dtype("fp16", CPU) is None
    assert amp_dtype("bf16", CPU) is torch.bfloat16


def test_bf16_autocast_path_trains_on_cpu(splits) -> None:
    tr, va = splits
    built = smallcnn()
    seen: list[tuple[bool, torch.dtype]] = []
    built.model[0].register_forward_hook(lambda m, i, o: seen.append((torch.is_autocast_enabled("cpu"), o.dtype)))
    res = train(built, tr, va, amp="bf16", epochs=2, batch_size=16)
    assert res.amp_dtype == "bfloat16"
    assert seen and set(seen) == {(True, torch.bfloat16)}  # training and validation passes
    assert all(np.isfinite(r["train_loss"]) for r in res.epochs)
    assert res.epochs[-1]["train_loss"] < res.epochs[0]["train_loss"]


def test_cached_features_use_the_training_autocast_dtype(splits) -> None:
    """Cached frozen features must be what the head would see in per-epoch frozen training under bf16."""
    _, va = splits
    built = smallcnn()
    cached = cached_features(built, va, device=CPU, batch_size=32, dtype=torch.bfloat16)
    fp32 = cached_features(built, va, device=CPU, batch_size=32)
    head_inputs: list[torch.Tensor] = []
    head = built.model.get_submodule(built.head_path)
    head.register_forward_pre_hook(lambda m, a: head_inputs.append(a[0].float()))
    x = Forward(module=built.model, norm=built.normalization).inputs(va, np.arange(len(va.labels)), device=CPU,
                                                                     augment="none", generator=None)
    built.model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        built.model(x)
    assert cached is not None and fp32 is not None
    assert np.array_equal(cached, head_inputs[0].numpy())
    assert not np.array_equal(cached, fp32)  # the dtype matters, so the test can tell


# --------------------------------------------------------------------------- host syncs
SYNCS = ("item", "__float__", "__int__", "__bool__", "cpu", "numpy", "tolist")


def _count_reportgen_syncs(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Count tensor→host calls made *from reportgen's code* (torch's own internals are not ours)."""
    pkg = str(Path(reportgen.__file__).parent)
    counts: Counter = Counter()
    for name in SYNCS:
        orig = getattr(torch.Tensor, name)

        def wrapper(self, *a, _orig=orig, _name=name, **k):
            if sys._getframe(1).f_code.co_filename.startswith(pkg):
                counts[_name] += 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    return counts


@pytest.mark.parametrize("augment", ["flips", "medical"])
def test_no_host_sync_per_batch(splits, monkeypatch: pytest.MonkeyPatch, augment: str) -> None:
    """A sync per batch (float(loss), .cpu() of each batch's probabilities, CPU random draws moved
    to the device) would stall the GPU every step: the count must not grow with the number of batches."""
    tr, _ = splits
    built = smallcnn()
    lc = LoopConfig(strategy="finetune", train=cfg(augment=augment), num_classes=2, device=CPU, seed=0)
    fwd = Forward(module=built.model, norm=built.normalization)
    loss = make_loss(lc.train, weights=None, device=CPU)
    opt = torch.optim.AdamW(built.model.parameters(), lr=1e-3)
    counts = _count_reportgen_syncs(monkeypatch)
    per_size = []
    for bs in (32, 8):  # 3 batches, then 12
        counts.clear()
        built.model.train()
        train_one_epoch(fwd, tr, cfg=lc, loss_fn=loss, opt=opt, scaler=None, dtype=None, batch_size=bs,
                        generator=torch.Generator().manual_seed(0), sample_weights=None, epoch=1)
        predict(fwd, tr, cfg=lc, batch_size=bs, dtype=None, loss_fn=loss)
        per_size.append(dict(counts))
    assert per_size[0] == per_size[1]
    assert sum(per_size[0].values()) <= 8  # a few per pass (final loss, probabilities, batch order)


def test_normalization_constants_are_made_once_per_device() -> None:
    from reportgen.data.batches import _norm_tensors
    from reportgen.models.backbones import IMAGENET

    assert _norm_tensors(IMAGENET, CPU)[0] is _norm_tensors(IMAGENET, CPU)[0]


# --------------------------------------------------------------------------- global flags
def test_torch_flags_are_restored_even_after_an_error() -> None:
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
              torch.backends.cudnn.deterministic)
    with pytest.raises(RuntimeError), torch_flags(deterministic=True, device=torch.device("cuda")):
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert torch.backends.cudnn.benchmark is False
        raise RuntimeError("cell failed")
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic) == before


def test_deterministic_cell_restores_global_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tiny_npz_experiment(tmp_path, strategies='["scratch"]', backbone="smallcnn", weights="none", size=28,
                               n_train=64, extra="deterministic = true\n")
    pf = preflight(load_experiment(toml))
    cell = pf.cells[0]
    during: list[bool] = []
    real_fit = cell_runner.fit

    def spy(*a, **k):
        during.append(torch.are_deterministic_algorithms_enabled())
        return real_fit(*a, **k)

    monkeypatch.setattr(cell_runner, "fit", spy)
    assert not torch.are_deterministic_algorithms_enabled()
    cell_runner.run_cell(cell, pf.datasets["pnm"], pf.choice_for(cell), cdir=tmp_path / "cell", device=CPU, env=environment(CPU),
                    save_checkpoint=False)
    assert during == [True]
    assert not torch.are_deterministic_algorithms_enabled()
    assert (tmp_path / "cell" / "result.json").is_file()


@pytest.mark.slow
def test_compile_true_in_the_config_runs_on_cpu_and_keeps_frozen_bn(tmp_path: Path) -> None:
    """``compile = true`` is honoured on any device; the runner's compiled frozen cell drifts by 0."""
    toml = tiny_npz_experiment(tmp_path, strategies='["frozen"]', n_train=64,
                               extra="compile = true\nfrozen_feature_cache = false\n")
    pf = preflight(load_experiment(toml))
    cell = pf.cells[0]
    result = cell_runner.run_cell(cell, pf.datasets["pnm"], pf.choice_for(cell), cdir=tmp_path / "cell", device=CPU,
                             env=environment(CPU), save_checkpoint=False)
    assert result["frozen_mode"] == "per_epoch" and result["frozen_bn_drift"] == 0.0
