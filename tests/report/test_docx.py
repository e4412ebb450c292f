"""`render --docx` on a store written by the real runner, read back with python-docx (and LibreOffice, slow).

The Word document is built from the same view models as the HTML: every table's text equals the HTML
table's text, every figure is there with its caption, every run names the East-Asian font, the footer
holds a PAGE field, and the task index is a real table.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tabletext import html_tables, norm

from reportgen.report import render_report

docx = pytest.importorskip("docx")
from docx.oxml.ns import qn  # noqa: E402

TASKS = [{"id": "A", "question": {"en": "Which strategy is best?", "zh-TW": "哪一種策略最好？"},
          "sections": ["comparison"], "answer": {"en": "Frozen features.", "zh-TW": "固定特徵擷取器。"}},
         {"id": "B", "question": {"en": "Where do the models err?", "zh-TW": "模型在哪裡出錯？"},
          "sections": ["errors"]}]


@pytest.fixture(scope="module")
def word(rendered, tmp_path_factory) -> dict:
    """The rendered store (figures cached) with two tasks declared, rendered again with --docx."""
    run = Path(shutil.copytree(rendered["run"], tmp_path_factory.mktemp("docx") / "store"))
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    meta["experiment"]["report"]["tasks"] = TASKS
    (run / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    written = render_report(run, lang="both", docx=True)
    return {"run": run, "written": written}


def _docx_tables(document) -> list[dict]:
    out = []
    for table in document.tables:
        rows = [[norm(cell.text) for cell in row.cells] for row in table.rows]
        out.append({"header": rows[:1], "rows": rows[1:]})
    return out


@pytest.mark.parametrize("lang", ["zh-TW", "en"])
def test_every_word_table_has_the_html_tables_text(word, lang: str) -> None:
    html = word["written"][f"html:{lang}"].read_text(encoding="utf-8")
    path = word["written"][f"docx:{lang}"]
    assert path.name == ("report.docx" if lang == "zh-TW" else "report.en.docx")
    document = docx.Document(str(path))
    expected = list(html_tables(html).values())
    got = _docx_tables(document)
    assert len(got) == len(expected) > 10
    for mine, theirs in zip(got, expected, strict=True):
        assert mine["header"] == theirs["header"]
        assert mine["rows"] == theirs["rows"]
    # The task index is a real table, first in the document, with the questions and the answered mark.
    index = got[0]
    questions = [q[lang] for q in (t["question"] for t in TASKS)]
    assert [row[1] for row in index["rows"]] == questions
    assert index["rows"][0][3].startswith("✓")


@pytest.mark.parametrize("lang", ["zh-TW", "en"])
def test_every_figure_is_in_the_word_document_with_its_caption(word, lang: str) -> None:
    html = word["written"][f"html:{lang}"].read_text(encoding="utf-8")
    document = docx.Document(str(word["written"][f"docx:{lang}"]))
    captions = re.findall(r'<figure class="figure[^"]*"[^>]*>.*?<span class="label">(.*?)</span> (.*?)</figcaption>',
                          html, re.S)
    assert len(captions) >= 5
    assert len(document.inline_shapes) == len(captions)
    texts = [norm(p.text) for p in document.paragraphs]
    for label, caption in captions:
        assert norm(html_lib.unescape(f"{label} {caption}")) in texts, label
    # Every picture is a PNG part of the package (not a link to a file on this machine).
    blips = document.element.body.findall(".//" + qn("a:blip"))
    assert len(blips) == len(captions)
    assert all(b.get(qn("r:embed")) and not b.get(qn("r:link")) for b in blips)


@pytest.mark.parametrize("lang", ["zh-TW", "en"])
def test_east_asian_font_on_every_run_and_page_numbers(word, lang: str) -> None:
    from reportgen.report.fonts import find_cjk_font

    family = find_cjk_font().family
    document = docx.Document(str(word["written"][f"docx:{lang}"]))
    section = document.sections[0]
    parts = [document.element.body, section.footer._element]
    runs = [r for part in parts for r in part.iter(qn("w:r"))]
    assert len(runs) > 500
    for run in runs:
        fonts = run.find(qn("w:rPr") + "/" + qn("w:rFonts"))
        assert fonts is not None and fonts.get(qn("w:eastAsia")) == family, run.xml[:300]
        assert fonts.get(qn("w:eastAsiaTheme")) is None  # a theme font would outrank the name
    default = document.styles.element.find(qn("w:docDefaults")).find(".//" + qn("w:rFonts"))
    assert default.get(qn("w:eastAsia")) == family
    normal = document.styles["Normal"].element.find(".//" + qn("w:rFonts"))
    assert normal.get(qn("w:eastAsia")) == family
    if lang == "zh-TW":  # Chinese text is in runs that carry that font
        assert any("混淆矩陣" in (r.text or "") or "模型" in (r.text or "") for r in document.paragraphs)
    instr = " ".join(el.text for el in section.footer._element.iter(qn("w:instrText")))
    assert "PAGE" in instr and "NUMPAGES" in instr
    # Headings are Word headings (navigation pane, editable outline), numbered like the HTML's sections.
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    html = word["written"][f"html:{lang}"].read_text(encoding="utf-8")
    assert len([h for h in headings if re.match(r"\d+\. ", h)]) == len(re.findall(r"<h2>\d+\. ", html))


@pytest.mark.slow
def test_libreoffice_converts_the_word_report_to_a_pdf_with_chinese_text(word, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-writer-nogui")
    from pypdf import PdfReader

    from reportgen.report.fonts import find_cjk_font

    # A private profile and a font folder holding the report's CJK font (fontconfig reads ~/.fonts).
    home = tmp_path / "home"
    (home / ".fonts").mkdir(parents=True)
    font = find_cjk_font().path
    (home / ".fonts" / font.name).symlink_to(font)
    src = word["written"]["docx:zh-TW"]
    out = subprocess.run([soffice, "--headless", "--norestore", "--convert-to", "pdf", "--outdir", str(tmp_path),
                          str(src)], capture_output=True, text=True, timeout=240, check=False,
                         env={**os.environ, "HOME": str(home)})
    pdf = tmp_path / "report.pdf"
    assert out.returncode == 0 and pdf.is_file(), out.stderr[-2000:]
    reader = PdfReader(str(pdf))
    text = "".join(page.extract_text() or "" for page in reader.pages)
    assert len(reader.pages) >= 5
    assert "混淆矩陣" in text and "模型" in text
    assert "EfficientNet-Lite0" in text
