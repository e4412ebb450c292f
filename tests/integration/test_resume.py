"""Resume mid-cell: a cell interrupted after an epoch continues from its checkpoint, and in
deterministic mode ends with exactly the metrics of an uninterrupted run (fine-tune and a frozen
cell on cached features), through the real runner on real PneumoniaMNIST images."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen import store
from reportgen.config import load_experiment
from reportgen.store import status
from reportgen.train.runner import run_experiment
from tests.conftest import tiny_npz_experiment


class InjectedCrash(Exception):
    pass


# Every weight training (BatchNorm in train mode, the optimizer's moments) on a small CNN, and a frozen
# pretrained backbone whose head trains on cached features (only the head is checkpointed there).
CASES = {
    "scratch": {"backbone": "smallcnn", "weights": "none", "strategies": '["scratch"]', "size": 28, "n_train": 300},
    "frozen": {"backbone": "efficientnet_lite0", "weights": "offline", "strategies": '["frozen"]', "size": 32,
               "n_train": 160},
}
SEEDS = {"scratch": [0, 1], "frozen": [0]}  # two cells: a crash in one leaves the other to the next attempt


def _experiment(tmp: Path, case: str):
    tmp.mkdir()
    return load_experiment(tiny_npz_experiment(tmp, **CASES[case], seeds=SEEDS[case], train={"deterministic": True}))


def _epochs_without_timing(path: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("seconds", "peak_mem_mb")} for row in store.read_csv(path)]


@pytest.mark.parametrize("case", list(CASES))
def test_resumed_cells_equal_uninterrupted_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    whole = run_experiment(_experiment(tmp_path / "whole", case))
    n = len(SEEDS[case])
    assert len(whole.trained) == n

    exp = _experiment(tmp_path / "cut", case)
    original_write_csv = store.write_csv
    crashed: set[str] = set()

    def write_then_crash(path: Path, header: list[str], rows: list) -> None:
        # epochs.csv is written right after the epoch's checkpoint: crash there, once per cell
        original_write_csv(path, header, rows)
        if Path(path).name == "epochs.csv" and len(rows) == 1 and Path(path).parent.name not in crashed:
            crashed.add(Path(path).parent.name)
            raise InjectedCrash("killed after epoch 1")

    monkeypatch.setattr(store, "write_csv", write_then_crash)
    for _ in range(n):
        with pytest.raises(InjectedCrash):
            run_experiment(exp)
        failed = [s for s in status.run_status(exp.run_dir) if s.state == "failed"]
        assert len(failed) == 1 and failed[0].resumable and failed[0].last_epoch == 1
        assert "InjectedCrash: killed after epoch 1" in failed[0].error
    resumed = run_experiment(exp)
    assert len(crashed) == n and len(resumed.trained) == 1  # the others finished during the later attempts

    for cell_id in whole.trained:
        a, b = whole.run_dir / "cells" / cell_id, exp.run_dir / "cells" / cell_id
        result = store.read_json(b / "result.json")
        assert result["resumed_from_epoch"] == 1 and result["epochs_run"] == 2
        assert store.read_json(a / "result.json")["resumed_from_epoch"] is None
        assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes(), cell_id
        assert (a / "predictions_test.csv").read_bytes() == (b / "predictions_test.csv").read_bytes()
        assert _epochs_without_timing(a / "epochs.csv") == _epochs_without_timing(b / "epochs.csv")
        assert not (b / "checkpoint.pt").exists() and not (b / "failed.json").exists()
    if case == "frozen":
        for cell in exp.run_dir.glob("cells/*"):
            assert store.read_json(cell / "result.json")["frozen_mode"] == "cached_features"
    assert all(s.state == "done" for s in status.run_status(exp.run_dir))


def test_unreadable_checkpoint_means_train_from_epoch_one(tmp_path: Path) -> None:
    exp = load_experiment(tiny_npz_experiment(tmp_path, strategies='["scratch"]', backbone="smallcnn",
                                              weights="none", n_train=200, size=28))
    cell_dir = exp.run_dir / "cells"
    summary = run_experiment(exp)
    cid = summary.trained[0]
    (cell_dir / cid / "result.json").unlink()  # unfinished again, with a corrupt checkpoint beside it
    (cell_dir / cid / "checkpoint.pt").write_bytes(b"not a torch file")
    again = run_experiment(exp)
    assert again.trained == [cid]
    assert store.read_json(cell_dir / cid / "result.json")["resumed_from_epoch"] is None
    assert len(store.read_csv(cell_dir / cid / "epochs.csv")) == 2
