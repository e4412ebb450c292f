"""The experiment schema: defaults, overrides, the matrix, and errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen.config import load_experiment
from reportgen.config.matrix import build_cells
from reportgen.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BASE = """
[experiment]
strategies = ["finetune", "frozen", "scratch"]
seeds = [0, 1]

[[datasets]]
name = "d"
kind = "npz"
path = "x.npz"

[[backbones]]
name = "resnet18"
input_size = 64

[[backbones]]
name = "mlp"
weights = "none"
input_size = 28

[train]
lr = 0.01
epochs = 3

[overrides.strategy.frozen]
lr = 0.1

[overrides.backbone.resnet18]
batch_size = 8
"""


def load(tmp_path: Path, text: str):
    p = tmp_path / "exp.toml"
    p.write_text(text, encoding="utf-8")
    return load_experiment(p)


def test_every_shipped_experiment_parses() -> None:
    for toml in sorted((ROOT / "experiments").glob("*.toml")):
        exp = load_experiment(toml)
        assert exp.backbones and exp.datasets, toml


def test_matrix_product_overrides_and_skips(tmp_path: Path) -> None:
    exp = load(tmp_path, BASE + '\n[[exclude]]\nbackbone = "resnet18"\nstrategy = "scratch"\nseed = 1\n')
    cells, skipped = build_cells(exp)
    # resnet18: 3 strategies × 2 seeds − 1 excluded; mlp: scratch only (no pretrained weights) × 2 seeds
    assert len(cells) == 5 + 2
    reasons = {(s.backbone, s.strategy, s.seed): s.reason for s in skipped}
    assert "excluded" in reasons[("resnet18", "scratch", 1)]
    assert "pretrained" in reasons[("mlp", "frozen", 0)]
    frozen = next(c for c in cells if c.backbone.name == "resnet18" and c.strategy == "frozen")
    assert frozen.train["lr"] == 0.1 and frozen.train["batch_size"] == 8 and frozen.train["epochs"] == 3
    scratch = next(c for c in cells if c.backbone.name == "resnet18" and c.strategy == "scratch")
    assert scratch.train["lr"] == 0.01 and scratch.weights == "none"
    assert frozen.semantics()["backbone_trainable"] is False


def test_cell_ids_are_stable_and_change_with_settings(tmp_path: Path) -> None:
    a = [c.id for c in build_cells(load(tmp_path, BASE))[0]]
    b = [c.id for c in build_cells(load(tmp_path, BASE))[0]]
    c = [c.id for c in build_cells(load(tmp_path, BASE.replace("epochs = 3", "epochs = 4")))[0]]
    assert a == b
    assert len(set(a)) == len(a)
    assert set(a).isdisjoint(c)


@pytest.mark.parametrize(("text", "key", "needle"), [
    (BASE.replace("[train]\n", "[train]\nlearning_rate = 1\n"), "train.learning_rate", "did you mean"),
    (BASE.replace("lr = 0.01", "lr = -1"), "train.lr", "a number > 0"),
    (BASE.replace("epochs = 3", "epochs = true"), "train.epochs", "positive integer"),
    (BASE.replace('"scratch"]', '"scrach"]'), "experiment.strategies[2]", "scratch"),
    (BASE + "\n[overrides.backbone.resnet19]\nlr = 1\n", "overrides.backbone.resnet19", "resnet18"),
    (BASE + "\n[trian]\n", "trian", "train"),
    (BASE.replace('kind = "npz"', 'kind = "zip"'), "datasets[0].kind", "npz"),
    (BASE + '\n[[exclude]]\nbackbone = "vgg"\n', "exclude[0].backbone", "not in the experiment"),
])
def test_errors_name_the_key(tmp_path: Path, text: str, key: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    err = info.value
    assert err.key == key
    assert str(err.file).endswith("exp.toml")
    assert needle in str(err)


def test_malformed_toml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[experiment]\nname = demo\n")
    assert "line 2" in str(info.value)


def test_paths_resolve_relative_to_the_toml(tmp_path: Path) -> None:
    exp = load(tmp_path, BASE)
    assert exp.datasets[0].path == tmp_path / "x.npz"


def test_notes_file_sections(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("## discussion\nMy own words.\n\n## limitations\nOnly one seed.\n")
    exp = load(tmp_path, BASE.replace("[experiment]", '[report]\nnotes_file = "notes.md"\n\n[experiment]'))
    assert exp.report["notes"] == {"discussion": "My own words.", "limitations": "Only one seed."}
