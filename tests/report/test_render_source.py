"""Render follows the TOML for what does not change results; author placeholders never reach the report.

Every test renders a copy of a runner-made store (tests/report/conftest.py ``mixed_store``) through the CLI,
as a student does after editing the experiment file: no cell is retrained.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from refcheck import prose, table_rows, visible

from reportgen.cli import cli

TASKS = """
[[report.tasks]]
id = "A"
question = "Compare the strategies."
sections = ["comparison", "discussion"]

[[report.tasks]]
id = "B"
question = "What did you learn?"
answer = { "zh-TW" = "學到很多（改過）。", en = "EDITED ANSWER B." }
"""


def _copy(mixed_store: Path, tmp_path: Path, *, edit=None) -> tuple[Path, Path]:
    """A copy of the store under tmp_path/runs and its experiment file pointing there (optionally edited)."""
    run_dir = Path(shutil.copytree(mixed_store, tmp_path / "runs" / mixed_store.name))
    text = (run_dir / "experiment.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^\s*output_dir = .*$', f'output_dir = "{tmp_path / "runs"}"', text)
    toml = tmp_path / "lab.toml"
    toml.write_text(edit(text) if edit else text, encoding="utf-8")
    return run_dir, toml


def _render(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["render", *args])
    return result.exit_code, result.stdout, result.stderr


def _stamps(run_dir: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in run_dir.glob("cells/*/result.json")}


def _edit_report(text: str) -> str:
    text = text.replace('discussion = "The **scratch** baseline needs more epochs. <b>not bold</b>"',
                        'discussion = { "zh-TW" = "訓練後才加上的備註。", en = "A note written AFTER the run." }')
    return text.replace('title = "Transfer learning for pneumonia detection"', 'title = "Edited title"') + TASKS


def test_notes_and_answers_edited_after_the_run_appear_after_render_alone(mixed_store: Path, tmp_path: Path) -> None:
    run_dir, toml = _copy(mixed_store, tmp_path, edit=_edit_report)
    before = _stamps(run_dir)
    code, out, err = _render(str(toml))
    assert code == 0, err
    en = (run_dir / "report.en.html").read_text(encoding="utf-8")
    zh = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "A note written AFTER the run." in en and "EDITED ANSWER B." in en and "Edited title" in en
    assert "訓練後才加上的備註。" in zh and "學到很多（改過）。" in zh
    assert _stamps(run_dir) == before  # nothing was retrained
    assert "changes settings the results depend on" not in err  # only report keys changed


def test_a_changed_training_key_says_run_is_needed_and_the_report_says_so(mixed_store: Path, tmp_path: Path) -> None:
    def lr_up(text: str) -> str:
        out = re.sub(r"(?m)^(\s*)lr = (?:1e-3|0\.001)$", r"\1lr = 3e-3", text)
        assert out != text, "the stored experiment file has no lr = 0.001 line to edit"
        return out

    run_dir, toml = _copy(mixed_store, tmp_path, edit=lr_up)
    code, _, err = _render(str(toml), "--lang", "en")
    assert code == 0, err
    assert "changes settings the results depend on (train.lr)" in err and "reportgen run" in err
    assert "with the configuration stored in the results folder" in visible(
        (run_dir / "report.html").read_text(encoding="utf-8"))


def test_given_the_run_folder_a_newer_recorded_toml_is_named_not_used(mixed_store: Path, tmp_path: Path) -> None:
    run_dir, toml = _copy(mixed_store, tmp_path, edit=_edit_report)
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    record["source"] = str(toml)  # the TOML this run was started from, since edited
    (run_dir / "run.json").write_text(json.dumps(record), encoding="utf-8")
    code, _, err = _render(str(run_dir), "--lang", "en")
    assert code == 0, err
    warning = next(line for line in err.splitlines() if str(toml) in line)
    assert "report.notes" in warning and "report.tasks" in warning and "report.title" in warning
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "A note written AFTER the run." not in html and "The <strong>scratch</strong> baseline" in html


def test_a_task_without_an_answer_is_never_answered_and_gets_a_draft_beside_the_report(mixed_store: Path,
                                                                                       tmp_path: Path) -> None:
    run_dir, toml = _copy(mixed_store, tmp_path, edit=_edit_report)
    code, out, err = _render(str(toml), "--lang", "en")
    assert code == 0, err
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    status = {row[0]: row[3] for row in table_rows(html, "task-index")}
    assert status["A"].startswith("○") and status["B"].startswith("✓")  # A's sections hold tables: still open
    assert 'task A has no answer ("Compare the strategies.")' in err and "task B" not in err
    draft = run_dir / "answers" / "task-A.draft.md"
    assert draft.is_file() and f"draft answer: {draft}" in out and not (run_dir / "answers" / "task-B.draft.md").exists()
    text = draft.read_text(encoding="utf-8")
    bullets = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    report_prose = set(prose(html)) | {" ".join(re.sub(r"<[^>]+>", " ", li).split())
                                       for li in re.findall(r"<li>(.*?)</li>", html, flags=re.S)}
    assert bullets and all(" ".join(b.split()) in report_prose for b in bullets)  # the report's own sentences
    assert "reportgen draft" not in html and "answer_file" not in visible(html)  # never into the report
    draft.write_text(text + "\nMy own words.\n", encoding="utf-8")  # the author starts editing it
    code, _, err = _render(str(toml), "--lang", "en")
    assert code == 0 and draft.read_text(encoding="utf-8").endswith("My own words.\n")
    assert f"kept {draft}" in err


PLACEHOLDERS = ("add reason", "reason =", "[[backbones]]", "answer =", "answer_file", "[[report.tasks]]",
                "student_id", "author =", "請在此", "加上 reason", "[report.checklist]", "before submitting",
                "to be completed by the author", "投稿前", "待作者補充")


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_author_placeholders_never_reach_the_report(mixed_store: Path, tmp_path: Path, lang: str) -> None:
    """The MLP has no reason, task A no answer, and the cover no author or student ID: each is a terminal
    warning and a neutral line in the report, never an instruction to the author printed in the hand-in."""
    def edit(text: str) -> str:
        text = re.sub(r'(?m)^(author|student_id) = .*$', "", text)
        return text + TASKS

    run_dir, toml = _copy(mixed_store, tmp_path, edit=edit)
    code, _, err = _render(str(toml), "--lang", lang)
    assert code == 0, err
    text = visible((run_dir / "report.html").read_text(encoding="utf-8"))
    assert [p for p in PLACEHOLDERS if p in text] == []
    for expected in ("backbone mlp has no reason", "task A has no answer", "[report] author is empty",
                     "[report] student_id is empty"):
        assert expected in err
    neutral = {"en": "MLP: no reason stated", "zh-TW": "MLP：未說明選擇理由"}[lang]
    assert neutral in text


def test_status_check_and_export_accept_the_toml(mixed_store: Path, tmp_path: Path) -> None:
    run_dir, toml = _copy(mixed_store, tmp_path)
    runner = CliRunner()
    status = runner.invoke(cli, ["status", str(toml)])
    assert status.exit_code == 0 and "4 done" in status.stdout
    check = runner.invoke(cli, ["check", str(toml)])
    assert check.exit_code == 0 and str(run_dir) in check.stdout
    export = runner.invoke(cli, ["export", str(toml), "--tables", str(tmp_path / "tables")])
    assert export.exit_code == 0 and any((tmp_path / "tables").iterdir())
    missing = runner.invoke(cli, ["status", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "experiment file not found" in missing.stderr
