"""The task index, per-language text, labels in prose and print quality, on the real store.

The store with tasks is the session's real store re-run through the real `reportgen run` with
[[report.tasks]] and per-language texts added to its own experiment.toml: every cell is already
finished, so the runner only rewrites run.json (what a student does after adding answers).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import cli
from reportgen.report import render_report
from reportgen.report.figures import DPI
from reportgen.report.format import macs

TASKS = """
[[report.tasks]]
id = "A"
question = { "zh-TW" = "比較微調與固定特徵擷取器。", en = "Compare fine-tuning with the fixed feature extractor." }
sections = ["results", "comparison"]

[[report.tasks]]
id = "B"
question = "Why does training from scratch lag behind?"
answer = { "zh-TW" = "因為只有 **160 張**影像。", en = "Only **160 images** <script>x</script>." }
sections = ["limitations"]

[[report.tasks]]
id = "C"
question = { "zh-TW" = "你會部署哪個模型？", en = "Which model would you deploy?" }
sections = ["limitations"]

[[report.tasks]]
id = "D"
question = "What did you learn?"
answer = "A lot."
"""


def with_tasks(store: Path, root: Path, extra: str = TASKS) -> Path:
    """Re-run the store's own experiment with ``extra`` appended (no cell retrains) and return the run."""
    text = (store / "experiment.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^\s*output_dir = .*$', f'output_dir = "{root}"', text)
    text = re.sub(r'(?m)^\s*name = "real"$', f'name = "{store.name}"', text, count=1)
    text = text.replace('title = "Transfer learning for pneumonia detection"',
                        'title = { "zh-TW" = "以遷移學習偵測肺炎", en = "Transfer learning for pneumonia detection" }')
    text = text.replace('discussion = "The **scratch** baseline needs more epochs. <b>not bold</b>"',
                        'discussion = { "zh-TW" = "從頭訓練需要更多 epoch。", en = "Scratch needs more epochs." }')
    text = text.replace('reason = "small and pretrained offline"',
                        'reason = { "zh-TW" = "小而且可離線載入預訓練權重", en = "small and pretrained offline" }')
    toml = root / "lab.toml"
    toml.write_text(text + extra, encoding="utf-8")
    before = {p.name: p.stat().st_mtime_ns for p in store.glob("cells/*/result.json")}
    result = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--no-checkpoints"])
    assert result.exit_code == 0, result.output
    assert {p.name: p.stat().st_mtime_ns for p in store.glob("cells/*/result.json")} == before  # nothing retrained
    tasks = json.loads((store / "run.json").read_text(encoding="utf-8"))["experiment"]["report"]["tasks"]
    assert [t["id"] for t in tasks] == ["A", "B", "C", "D"]
    return store


@pytest.fixture(scope="module")
def tasks_pdf(real_store: Path, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tasks")
    store = with_tasks(Path(shutil.copytree(real_store, root / "tasks")), root)
    written = render_report(store, lang="both", pdf=True)
    return {"run": store, "written": written, "en": written["html:en"].read_text(encoding="utf-8"),
            "zh": written["html:zh-TW"].read_text(encoding="utf-8")}


def _section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    end = html.find('<section class="section', start)
    return html[start:end if end > 0 else None]


def test_task_index_opens_the_report(tasks_pdf: dict) -> None:
    en = tasks_pdf["en"]
    main = en[en.index("<main>"):]
    assert main.index('id="sec-task-index"') < main.index('id="sec-abstract"')  # right after cover + contents
    index = _section(en, "sec-task-index")
    rows = re.findall(r"<tr><td class=\"task-id\">(.*?)</td><td class=\"\">(.*?)</td>(.*?)</tr>", index, re.S)
    assert [r[0] for r in rows] == ["A", "B", "C", "D"]
    assert rows[0][1] == "Compare fine-tuning with the fixed feature extractor."
    # A: results + comparison hold tables and figures, but no answer: open (evidence is never an answer);
    # links carry the section numbers
    assert re.search(r'href="#sec-results">\d+\. Results by strategy</a>', rows[0][2])
    assert 'href="#sec-comparison"' in rows[0][2] and "task-open" in rows[0][2] and "✓" not in rows[0][2]
    assert "task-done" in rows[1][2]  # B: answered
    assert "task-open" in rows[2][2] and "○" in rows[2][2]  # C: limitations has no table/figure/note
    assert 'href="#sec-task-answers"' in rows[3][2] and "task-done" in rows[3][2]  # D: a loose answer
    box = re.search(r'<aside class="unanswered">(.*?)</aside>', index, re.S)
    assert box and "C: Which model would you deploy?" in box[1] and "A: Compare" in box[1]


def test_answers_under_their_question_escaped(tasks_pdf: dict) -> None:
    en, zh = tasks_pdf["en"], tasks_pdf["zh"]
    lim = _section(en, "sec-limitations")
    assert 'id="task-answer-B"' in lim and "Why does training from scratch lag behind?" in lim
    assert "<strong>160 images</strong>" in lim and "<script>" not in lim and "&lt;script&gt;" in lim
    assert 'id="task-answer-D"' in _section(en, "sec-task-answers")
    assert "因為只有 <strong>160 張</strong>影像。" in _section(zh, "sec-limitations")


def test_each_language_gets_its_own_texts(tasks_pdf: dict) -> None:
    en, zh = tasks_pdf["en"], tasks_pdf["zh"]
    assert '<h1 class="title">以遷移學習偵測肺炎</h1>' in zh
    assert '<h1 class="title">Transfer learning for pneumonia detection</h1>' in en
    zh_disc, en_disc = _section(zh, "sec-discussion"), _section(en, "sec-discussion")
    assert "從頭訓練需要更多 epoch。" in zh_disc and "Scratch needs more epochs." not in zh_disc
    assert "Scratch needs more epochs." in en_disc and "從頭訓練需要更多 epoch。" not in en_disc
    assert "EfficientNet-Lite0：小而且可離線載入預訓練權重" in zh
    assert "EfficientNet-Lite0: small and pretrained offline" in en
    assert "比較微調與固定特徵擷取器。" in _section(zh, "sec-task-index")


def test_strategy_semantics_worded_in_zh(tasks_pdf: dict) -> None:
    methods = _section(tasks_pdf["zh"], "sec-methods")
    table = methods[:methods.index("</table>")]
    assert "ImageNet 預訓練權重" in table and "隨機初始化" in table and "否（凍結）" in table
    for raw in (">pretrained<", ">random<", ">true<", ">false<", ">eval<", ">train<"):
        assert raw not in table, raw
    # the selection metric is worded in captions, not printed as its identifier
    results = _section(tasks_pdf["en"], "sec-results")
    assert "validation AUC" in results and "loss and val_auc" not in results


def test_pdf_task_index_has_true_page_numbers(tasks_pdf: dict) -> None:
    from pypdf import PdfReader

    pages = [p.extract_text() or "" for p in PdfReader(tasks_pdf["written"]["pdf:en"]).pages]
    index_page = next(i for i, t in enumerate(pages) if "Task index" in t)
    index_text = " ".join(pages[index_page].split())  # a long section name may wrap inside its cell
    assert not re.search(r"\(p\.\s*\n", pages[index_page])  # "(p. 10)" itself never wraps
    refs = re.findall(r"(\d+)\. ([A-Z][a-z]+[a-z ]*?) \(p\. (\d+)\)", index_text)
    assert {name.split()[0] for _, name, _ in refs} >= {"Results", "Comparison", "Limitations", "Task"}
    for number, name, page in refs:
        heading = f"{number}. {name.split()[0]}"
        target = pages[int(page) - 1]
        assert any(line.startswith(heading) for line in target.splitlines()), (heading, page)
    zh = [p.extract_text() or "" for p in PdfReader(tasks_pdf["written"]["pdf:zh-TW"]).pages]
    assert any(re.search(r"第 \d+ 頁", t) for t in zh if "題目索引" in t)


def test_unanswered_tasks_are_logged(real_store: Path, tmp_path: Path, caplog) -> None:
    store = with_tasks(Path(shutil.copytree(real_store, tmp_path / "warn")), tmp_path)
    with caplog.at_level(logging.WARNING, logger="reportgen.report.render"):
        render_report(store, lang="en")
    lines = [r.getMessage() for r in caplog.records if "has no answer" in r.getMessage()]
    assert [line.split(" has no answer")[0] for line in lines] == ["task A", "task C"]


def test_numbers_never_wrap_in_print(tasks_pdf: dict) -> None:
    from pypdf import PdfReader

    html = tasks_pdf["en"]
    assert re.search(r"td\.num \{ white-space: nowrap;", html)
    arch = json.loads(next((tasks_pdf["run"] / "cells").glob("*/arch.json")).read_text(encoding="utf-8"))
    value = macs(arch["macs"])  # e.g. "0.00811 G"
    text = "\n".join(p.extract_text() or "" for p in PdfReader(tasks_pdf["written"]["pdf:en"]).pages)
    assert any(value in line for line in text.splitlines()), value


def test_figures_print_at_200_dpi(tasks_pdf: dict) -> None:
    assert DPI >= 200
    assert f"image-resolution: {DPI}dpi" in tasks_pdf["en"]
    out = subprocess.run(["pdfimages", "-list", str(tasks_pdf["written"]["pdf:en"])], capture_output=True,
                         text=True, check=True).stdout.splitlines()[2:]
    ppi = [(int(row.split()[12]), int(row.split()[13])) for row in out if row.split()[2] == "image"]
    assert ppi and all(x >= 199 and y >= 199 for x, y in ppi), ppi
    # on screen the HTML gives each figure its drawn width, so it is not shown at twice its size
    widths = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="[^"]*" style="width: (\d+)px"', tasks_pdf["en"])
    assert widths and all(200 < int(w) <= 7.2 * 96 + 1 for w in widths)
