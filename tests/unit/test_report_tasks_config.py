"""[[report.tasks]] and per-language [report] text: parsed from the TOML, every bad input an exit-2 message
that names the key (through the real `reportgen validate` command)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.config import load_experiment
from reportgen.config.report import pick
from reportgen.errors import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]
NPZ = ROOT / "data" / "pneumoniamnist.npz"

HEAD = """
[experiment]
name = "t"
strategies = ["finetune"]

[report]
title = "T"
"""

TAIL = f"""
[[datasets]]
name = "pnm"
kind = "npz"
path = "{NPZ}"

[[backbones]]
name = "efficientnet_lite0"
weights = "offline"
input_size = 32
"""


def write(tmp_path: Path, report_extra: str = "", tail_extra: str = "") -> Path:
    p = tmp_path / "lab.toml"
    p.write_text(HEAD + report_extra + TAIL + tail_extra, encoding="utf-8")
    return p


GOOD_TASKS = """
[[report.tasks]]
id = "A"
question = { "zh-TW" = "選兩個模型並說明理由。", en = "Pick two models and say why." }
sections = ["model_selection", "results", "results"]

[[report.tasks]]
id = "B"
question = "Compare fine-tuning with the frozen backbone."
answer = "Fine-tuning **wins**."

[[report.tasks]]
id = "C"
question = "What limits the test score?"
answer_file = "answers/c.md"
sections = ["discussion"]
"""


def test_tasks_parse_with_answers_and_files(tmp_path: Path) -> None:
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "c.md").write_text("\ufeffThe **16-image** validation set.\n", encoding="utf-8")
    exp = load_experiment(write(tmp_path, tail_extra=GOOD_TASKS))
    tasks = exp.report["tasks"]
    assert [t["id"] for t in tasks] == ["A", "B", "C"]
    assert tasks[0]["sections"] == ["model_selection", "results"]  # a section named twice is kept once
    assert pick(tasks[0]["question"], "zh-TW") == "選兩個模型並說明理由。"
    assert pick(tasks[0]["question"], "en") == "Pick two models and say why."
    assert tasks[0]["answer"] == "" and tasks[1]["sections"] == []
    assert tasks[1]["answer"] == "Fine-tuning **wins**."
    assert tasks[2]["answer"].strip() == "The **16-image** validation set."  # BOM dropped, file read at load time
    assert "answer_file" not in tasks[2]  # the store keeps the text, not a path render could not follow


def test_per_language_title_notes_and_reason(tmp_path: Path) -> None:
    toml = write(tmp_path, report_extra='[report.notes]\ndiscussion = { "zh-TW" = "中文", en = "English" }\n'
                 'data = "both"\n', tail_extra='reason = { en = "small" }\n')
    text = toml.read_text(encoding="utf-8").replace('title = "T"', 'title = { "zh-TW" = "標題", en = "Title" }')
    toml.write_text(text, encoding="utf-8")
    exp = load_experiment(toml)
    assert pick(exp.report["title"], "zh-TW") == "標題" and pick(exp.report["title"], "en") == "Title"
    assert pick(exp.report["notes"]["discussion"], "en") == "English"
    assert pick(exp.report["notes"]["data"], "zh-TW") == "both"
    # a table that gives one language only: the other language falls back to it
    assert pick(exp.backbones[0].reason, "zh-TW") == "small"


def test_old_plain_strings_still_valid(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, report_extra='[report.notes]\ndata = "plain"\n',
                                tail_extra='reason = "plain reason"\n'))
    assert exp.report["tasks"] == [] and exp.report["title"] == "T"
    assert exp.backbones[0].reason == "plain reason" and exp.report["notes"]["data"] == "plain"


BAD = [
    ("tasks_not_array", "", 'tasks = "A"\n', "report.tasks"),
    ("missing_id", '[[report.tasks]]\nquestion = "q"\n', "", "report.tasks[0].id"),
    ("missing_question", '[[report.tasks]]\nid = "A"\n', "", "report.tasks[0].question"),
    ("empty_question", '[[report.tasks]]\nid = "A"\nquestion = " "\n', "", "report.tasks[0].question"),
    ("duplicate_id", '[[report.tasks]]\nid = "A"\nquestion = "q"\n[[report.tasks]]\nid = "A"\nquestion = "r"\n', "",
     "report.tasks[1].id"),
    ("id_not_string", '[[report.tasks]]\nid = 1\nquestion = "q"\n', "", "report.tasks[0].id"),
    ("unknown_key", '[[report.tasks]]\nid = "A"\nquestion = "q"\nsectons = ["results"]\n', "",
     "report.tasks[0].sectons"),
    ("unknown_section", '[[report.tasks]]\nid = "A"\nquestion = "q"\nsections = ["result"]\n', "",
     "report.tasks[0].sections[0]"),
    ("sections_not_list", '[[report.tasks]]\nid = "A"\nquestion = "q"\nsections = "results"\n', "",
     "report.tasks[0].sections"),
    ("question_bad_language", '[[report.tasks]]\nid = "A"\nquestion = { zh-CN = "问题" }\n', "",
     "report.tasks[0].question"),
    ("answer_not_text", '[[report.tasks]]\nid = "A"\nquestion = "q"\nanswer = 3\n', "", "report.tasks[0].answer"),
    ("answer_and_file", '[[report.tasks]]\nid = "A"\nquestion = "q"\nanswer = "x"\nanswer_file = "a.md"\n', "",
     "report.tasks[0].answer_file"),
    ("answer_file_missing", '[[report.tasks]]\nid = "A"\nquestion = "q"\nanswer_file = "nope.md"\n', "",
     "report.tasks[0].answer_file"),
    ("title_bad_language", "", 'title = { fr = "Titre" }\n', "report.title"),
    ("note_not_text", "", "[report.notes]\ndiscussion = 3\n", "report.notes.discussion"),
]


@pytest.mark.parametrize(("case", "tail", "report", "key"), BAD, ids=[b[0] for b in BAD])
def test_bad_tasks_and_texts_exit_2_naming_the_key(tmp_path: Path, case: str, tail: str, report: str,
                                                   key: str) -> None:
    toml = write(tmp_path, report_extra=report, tail_extra=tail)
    if case == "title_bad_language":
        toml.write_text(toml.read_text(encoding="utf-8").replace('title = "T"\n', ""), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert f"{toml}: {key}:" in result.output, result.output
    assert "Traceback" not in result.output
    assert "expected" in result.output or "fix" in result.output
    if case == "unknown_section":
        assert 'did you mean "results"' in result.output
    if case == "unknown_key":
        assert 'did you mean "sections"' in result.output


def test_backbone_reason_bad_language(tmp_path: Path) -> None:
    toml = write(tmp_path, tail_extra='reason = { de = "klein" }\n')
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "backbones[0].reason" in result.output and "zh-TW, en" in result.output


def test_answer_file_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_bytes("答案".encode("big5"))
    toml = write(tmp_path, tail_extra='[[report.tasks]]\nid = "A"\nquestion = "q"\nanswer_file = "a.md"\n')
    result = CliRunner().invoke(cli, ["validate", str(toml)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "report.tasks[0].answer_file" in result.output and "UTF-8" in result.output
