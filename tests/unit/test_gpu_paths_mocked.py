"""The GPU-only paths of issue 19, proven on the CPU by mocks and fault injection (the real-GPU versions are
in test_cuda_paths.py, marked ``gpu``):

- the augmentation generator, separate from the batch-order one on a GPU, is checkpointed and restored;
- only the RNG of the device in use is saved and restored (never every visible GPU's, by index);
- ``CUBLAS_WORKSPACE_CONFIG`` is set before anything can touch CUDA;
- the local launcher honours ``--device cuda:N`` (pinned with CUDA_VISIBLE_DEVICES) and ``--only``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen.config import TRAIN_KEYS, load_experiment
from reportgen.train import checkpoint as ckpt_mod
from reportgen.train import loop as loop_mod
from reportgen.train.loop import Forward, LoopConfig, Split, fit
from tests.conftest import DEMO_NPZ, tiny_npz_experiment


# --------------------------------------------------------------------------- augmentation generator
def _splits() -> tuple[Split, Split]:
    d = np.load(DEMO_NPZ)
    x, y = d["train_images"][:, None], d["train_labels"][:, 0].astype(np.int64)
    return Split(images=x[:64], labels=y[:64]), Split(images=x[64:112], labels=y[64:112])


def _fit(resume=None, saved=None):
    from reportgen.models.backbones import WeightsChoice, build_model

    torch.manual_seed(0)
    built = build_model("smallcnn", WeightsChoice("none"), num_outputs=2, input_size=28)
    t = {k: v[0] for k, v in TRAIN_KEYS.items()}
    t.update({"epochs": 2, "batch_size": 32, "scheduler": "none", "augment": "medical", "patience": 0,
              "selection_metric": "val_loss"})
    lc = LoopConfig(strategy="scratch", train=t, num_classes=2, device=torch.device("cpu"), seed=0)
    tr, va = _splits()
    return fit(Forward(module=built.model, norm=built.normalization), head_path=built.head_path, train=tr, val=va,
               cfg=lc, full_model=built.model, resume=resume,
               # A deep copy, as the runner's torch.save is: the state holds the live epoch list.
               checkpoint=None if saved is None else (lambda state: saved.append(copy.deepcopy(state))))


def test_a_separate_augmentation_generator_is_checkpointed_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a GPU, augmentation draws from its own generator (here a second CPU one). A cell resumed after
    epoch 1 must draw epoch 2's augmentation where the uninterrupted cell did, not restart from the seed."""
    made: list[torch.Generator] = []

    def separate(seed, dev, generator):
        g = torch.Generator().manual_seed(seed + 1000)
        made.append(g)
        return g

    monkeypatch.setattr(loop_mod, "_augment_generator", separate)
    states: list[dict] = []
    whole = _fit(saved=states)
    assert states[0]["rng"]["aug_generator"] is not None
    assert not torch.equal(states[0]["rng"]["aug_generator"], made[0].get_state())  # it moved in epoch 2
    resumed = _fit(resume=states[0])
    drop = ("seconds", "peak_mem_mb")
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.epochs] == \
        [{k: v for k, v in r.items() if k not in drop} for r in whole.epochs]
    # Fault injection: the same resume with the augmentation stream restarted from its seed diverges.
    broken = dict(states[0], rng={**states[0]["rng"], "aug_generator": None})
    diverged = _fit(resume=broken)
    assert diverged.epochs[1]["train_loss"] != whole.epochs[1]["train_loss"]


# --------------------------------------------------------------------------- device RNG
class FakeCuda:
    """Records which CUDA RNG calls are made, with which device."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def get_rng_state(self, device=None):
        self.calls.append(("get", str(device)))
        return torch.tensor([7], dtype=torch.uint8)

    def set_rng_state(self, state, device=None):
        self.calls.append(("set", str(device), int(state[0])))

    def get_rng_state_all(self):
        self.calls.append(("get_all",))
        return []

    def set_rng_state_all(self, states):
        self.calls.append(("set_all",))


def test_only_the_rng_of_the_device_in_use_is_saved_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCuda()
    for name in ("get_rng_state", "set_rng_state", "get_rng_state_all", "set_rng_state_all"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    g = torch.Generator().manual_seed(0)
    dev = torch.device("cuda", 1)
    state = ckpt_mod.rng_state(g, device=dev)
    ckpt_mod.restore_rng(state, g, device=dev)
    assert fake.calls == [("get", "cuda:1"), ("set", "cuda:1", 7)]
    # A CPU cell touches no GPU at all (no CUDA context on any device), even where CUDA is available.
    fake.calls.clear()
    state = ckpt_mod.rng_state(g, device=torch.device("cpu"))
    ckpt_mod.restore_rng(state, g, device=torch.device("cpu"))
    assert fake.calls == [] and state["device_rng"] is None


def test_epoch_snapshot_keeps_the_rng_of_the_device_in_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch import nn

    from reportgen.train.device import EpochStart

    fake = FakeCuda()
    for name in ("get_rng_state", "set_rng_state", "get_rng_state_all", "set_rng_state_all"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    snap = EpochStart.capture(model, opt, None, None, [], device=torch.device("cuda", 0))
    snap.restore(model, opt, None, None, [])
    assert fake.calls == [("get", "cuda:0"), ("set", "cuda:0", 7)]


# --------------------------------------------------------------------------- cuBLAS workspace
class Sentinel(Exception):
    pass


def test_cublas_workspace_is_set_before_the_device_is_picked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pick_device is the first thing that asks torch about CUDA; by then the variable must be set."""
    from reportgen.launch import worker
    from reportgen.train import environment, runner

    exp = load_experiment(tiny_npz_experiment(tmp_path, strategies='["scratch"]', backbone="smallcnn",
                                              weights="none", size=28, extra="deterministic = true\n"))
    seen: list[str | None] = []

    def pick(device=None):
        seen.append(os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
        raise Sentinel

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(runner, "pick_device", pick)  # the inline runner's
    monkeypatch.setattr(environment, "pick_device", pick)  # the worker's (imported when it runs)
    with pytest.raises(Sentinel):
        runner.run_experiment(exp, device="cpu")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    cell_id = runner.preflight(exp).cells[0].id
    with pytest.raises(Sentinel):
        worker.run_one(exp, cell_id, device="cpu")
    assert seen == [":4096:8", ":4096:8"]
    # Not deterministic: left alone (the workspace costs memory).
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    (tmp_path / "b").mkdir()
    exp2 = load_experiment(tiny_npz_experiment(tmp_path / "b", strategies='["scratch"]', backbone="smallcnn",
                                               weights="none", size=28))
    with pytest.raises(Sentinel):
        runner.run_experiment(exp2, device="cpu")
    assert seen[-1] is None


# --------------------------------------------------------------------------- local launcher
def test_local_launcher_pins_cuda_n_to_that_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from reportgen.errors import ConfigError
    from reportgen.launch.local import plan_slots

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    slots = plan_slots(device="cuda:1", jobs=4)
    assert [(s.device, s.env) for s in slots] == [("cuda", {"CUDA_VISIBLE_DEVICES": "1"})]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")  # cuda:1 of this process is physical GPU 6
    assert plan_slots(device="cuda:1", jobs=1)[0].env == {"CUDA_VISIBLE_DEVICES": "6"}
    with pytest.raises(ConfigError):
        plan_slots(device="cuda:2", jobs=1)
    assert [s.device for s in plan_slots(device="cpu", jobs=2)] == ["cpu", "cpu"]


def test_local_launcher_runs_only_the_cells_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from reportgen.launch import local

    exp = load_experiment(tiny_npz_experiment(tmp_path, strategies='["scratch", "frozen"]', size=32))
    launched: list[list[str]] = []

    class Done:
        def __init__(self, cmd, **kwargs) -> None:
            launched.append(cmd)

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", Done)
    local.run_local(exp, jobs=1, device="cpu", only=["frozen"], poll_s=0.0)
    cells = [cmd[cmd.index("reportgen.launch.worker") + 2] for cmd in launched]
    assert cells and all("frozen" in c for c in cells)
