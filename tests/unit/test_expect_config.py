"""A task's premise (``expect`` in [[report.tasks]]): parsed into one spelling, every bad premise refused by
`reportgen validate` before any compute (exit 2, naming the file, the key and a fix), and the shipped labs'
premises naming their own strategies."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.config import load_experiment
from reportgen.errors import EXIT_BAD_INPUT
from tests.tinyexp import BACKBONE, tiny_experiment

ROOT = Path(__file__).resolve().parents[2]

def write(tmp_path: Path, expect: str) -> Path:
    """The tiny experiment (tests/tinyexp.py) with a second backbone and one task whose premise is ``expect``."""
    task = f'\n[[report.tasks]]\nid = "E"\nquestion = "Why does the scratch model stay behind?"\nexpect = {expect}\n'
    return tiny_experiment(tmp_path, file="lab.toml", report={"title": "T"},
                           backbones=[BACKBONE, {"name": "mlp", "weights": "none"}], extra=task)


def test_premises_parse_into_one_spelling(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, '["finetune>scratch", "scratch < frozen", "finetune > scratch", '
                                          '"efficientnet_lite0 > mlp"]'))
    # "<" is read the other way round; a premise written twice is one premise.
    assert exp.report.tasks[0]["expect"] == ["finetune > scratch", "frozen > scratch", "efficientnet_lite0 > mlp"]
    one = load_experiment(write(tmp_path, '"frozen > scratch"'))  # one premise without brackets
    assert one.report.tasks[0]["expect"] == ["frozen > scratch"]


@pytest.mark.parametrize(("expect", "key", "words"), [
    ('["finetune > scratchh"]', "report.tasks[0].expect[0]", ['names "scratchh"', 'did you mean "scratch"?']),
    ('["finetune > resnet18"]', "report.tasks[0].expect[0]", ['names "resnet18"', "efficientnet_lite0, mlp"]),
    ('["finetune > mlp"]', "report.tasks[0].expect[0]", ["compares a strategy with a backbone"]),
    ('["finetune > finetune"]', "report.tasks[0].expect[0]", ["with itself"]),
    ('["finetune >= scratch"]', "report.tasks[0].expect[0]", ["bad premise", "cannot be shown by a paired test"]),
    ('["finetune ≈ scratch"]', "report.tasks[0].expect[0]", ["bad premise", '"A > B"']),
    ('["finetune beats scratch"]', "report.tasks[0].expect[0]", ["bad premise", 'e.g. "finetune > scratch"']),
    ("[1, 2]", "report.tasks[0].expect", ["bad value", "a list of"]),
    ('["ok > fine", "finetune > frozen", "frozen > warmup"]', "report.tasks[0].expect[0]", ['names "ok"']),
])
def test_bad_premises_are_refused_by_validate(tmp_path: Path, expect: str, key: str, words: list[str]) -> None:
    toml = write(tmp_path, expect)
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "Traceback" not in result.output
    assert str(toml) in result.output and key in result.output, result.output
    for w in words:
        assert w in result.output, (w, result.output)


def test_a_strategy_the_experiment_does_not_run_is_refused(tmp_path: Path) -> None:
    """warmup is a known strategy, but this experiment does not run it: its premise could never be checked."""
    result = CliRunner().invoke(cli, ["validate", str(write(tmp_path, '["warmup > scratch"]'))])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert 'names "warmup"' in result.output and "finetune, frozen, scratch" in result.output


@pytest.mark.parametrize("lab", ["hw4", "retinopathy", "cxr4"])
def test_the_labs_premises_name_their_own_strategies(lab: str) -> None:
    """The lab TOMLs parse (data aside) with their premises; HW4's Task E presumes the transfer models win."""
    path = ROOT / "experiments" / f"{lab}.toml"
    exp = load_experiment(path)  # parsing checks every premise's names against the lab's own lists
    raw = tomllib.loads(path.read_text(encoding="utf-8"))["report"]["tasks"]
    stated = {t["id"]: t["expect"] for t in exp.report.tasks if t.get("expect")}
    assert stated == {t["id"]: t["expect"] for t in raw if "expect" in t}
    if lab == "hw4":
        assert stated == {"E": ["finetune > scratch", "frozen > scratch"]}
