"""render_report / `reportgen render`: outputs, missing cells, overrides, template errors, no torch."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.errors import RenderError, StoreError
from reportgen.report import render_report
from reportgen.report.command import render
from reportgen.store.runs import default_run_dir

REPO = Path(__file__).resolve().parents[2]


def test_both_languages_are_two_self_contained_documents(rendered) -> None:
    zh, en = rendered["zh"], rendered["en"]
    assert '<html lang="zh-TW">' in zh and '<html lang="en">' in en
    assert "模型選擇" in zh and "混淆矩陣" in zh
    assert "Model selection" in en and "Confusion matrices" in en
    for page in (zh, en):
        assert "<style>" in page and "<link" not in page
        assert not re.search(r'src="(?!data:)', page), "every image must be inline"
        assert page.count('src="data:image/png;base64,') >= 10
    assert 'href="report.en.html"' in zh and 'href="report.html"' in en
    assert (rendered["run"] / "analysis" / "comparisons.json").is_file()
    assert (rendered["run"] / "analysis" / "findings.json").is_file()


def test_user_notes_are_inserted_and_escaped(rendered) -> None:
    en = rendered["en"]
    assert "<strong>scratch</strong>" in en
    assert "&lt;b&gt;not bold&lt;/b&gt;" in en


def test_report_contains_what_a_grader_checks(rendered) -> None:
    en = rendered["en"]
    for text in ("Student ID", "112000123", "Why these backbones", "MACs", "fvcore", "Holm", "Fine-tuning",
                 "Fixed feature extractor", "Training from scratch", "Validity checks", "Limitations",
                 "experiment.toml", "ROC curves", "Cost of each run"):
        assert text in en, text


def test_missing_cells_are_shown_as_not_run(store_copy) -> None:
    # An unfinished cell is one without result.json (killed mid-way): exactly what the runner leaves.
    unfinished = next(p for p in (store_copy / "cells").iterdir() if "-scratch-s1-" in p.name)
    (unfinished / "result.json").unlink()
    run = store_copy
    written = render_report(run, lang="en")
    html = written["html:en"].read_text(encoding="utf-8")
    assert "not run" in html
    assert "planned runs not finished: 1" in html


def test_single_cell_run_renders(tmp_path) -> None:
    from realstore import build_store

    run = build_store(tmp_path, name="one", strategies='["frozen"]', seeds="[0]", epochs=1)
    written = render_report(run, lang="zh-TW")
    assert "固定特徵擷取器" in written["html:zh-TW"].read_text(encoding="utf-8")


def test_no_finished_cell_is_a_store_error(store_copy) -> None:
    run = store_copy
    shutil.rmtree(run / "cells")
    with pytest.raises(StoreError):
        render_report(run, lang="en")


def test_course_override_shadows_one_partial(tmp_path, store_copy) -> None:
    (tmp_path / "course" / "partials").mkdir(parents=True)
    (tmp_path / "course" / "partials" / "cover.html").write_text(
        '<header class="cover">COURSE-LOGO {{ ctx.cover.title }}</header>\n', encoding="utf-8")
    written = render_report(store_copy, lang="en", template_dir=tmp_path / "course")
    html = written["html:en"].read_text(encoding="utf-8")
    assert "COURSE-LOGO Transfer learning for pneumonia detection" in html
    assert "Model selection" in html  # everything else still comes from the packaged templates


def test_shipped_example_course_override_works(store_copy) -> None:
    written = render_report(store_copy, lang="en", template_dir=REPO / "templates" / "example-course")
    assert "example-course-logo" in written["html:en"].read_text(encoding="utf-8")


def test_template_syntax_error_names_file_and_line(tmp_path, store_copy) -> None:
    (tmp_path / "bad" / "partials").mkdir(parents=True)
    (tmp_path / "bad" / "partials" / "cover.html").write_text("<header>\nok\n{% if %}\n</header>\n", encoding="utf-8")
    with pytest.raises(RenderError) as err:
        render_report(store_copy, lang="en", template_dir=tmp_path / "bad")
    assert re.search(r"partials/cover\.html:3", str(err.value)), str(err.value)


def test_undefined_name_in_template_names_file_and_line(tmp_path, store_copy) -> None:
    (tmp_path / "bad" / "partials").mkdir(parents=True)
    (tmp_path / "bad" / "partials" / "cover.html").write_text("<header>\n{{ ctx.no_such_field }}\n</header>\n",
                                                              encoding="utf-8")
    with pytest.raises(RenderError) as err:
        render_report(store_copy, lang="en", template_dir=tmp_path / "bad")
    assert re.search(r"partials/cover\.html:2", str(err.value)), str(err.value)
    assert "no_such_field" in str(err.value)


def test_missing_template_dir_is_a_render_error(tmp_path, store_copy) -> None:
    with pytest.raises(RenderError):
        render_report(store_copy, lang="en", template_dir=tmp_path / "nope")


def test_render_does_not_import_torch(store_copy) -> None:
    code = ("import sys; from reportgen.report import render_report; "
            f"render_report({str(store_copy)!r}, lang='en'); "
            "assert 'torch' not in sys.modules, 'torch was imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_cli_renders_and_reports_bad_input_with_exit_2(store_copy, tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(render, [str(store_copy), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    bad = runner.invoke(render, [str(tmp_path / "missing")])
    assert bad.exit_code == 2
    assert "run.json" in bad.output


def test_default_run_dir_is_the_run_trained_last(tmp_path, real_store, monkeypatch) -> None:
    import os

    with pytest.raises(StoreError):
        default_run_dir(tmp_path / "runs")
    a = shutil.copytree(real_store, tmp_path / "runs" / "a")
    assert default_run_dir(tmp_path / "runs") == (a, [])
    b = shutil.copytree(real_store, tmp_path / "runs" / "b")

    def touch_all(run, t):
        for f in [run / "run.json", *run.glob("cells/*/epochs.csv"), *run.glob("cells/*/result.json")]:
            os.utime(f, (t, t))

    touch_all(a, 1_000_000)
    touch_all(b, 2_000_000)
    assert default_run_dir(tmp_path / "runs") == (b, [a])
    # One more epoch logged in a: a is now the run trained last (even though b's run.json is newer).
    os.utime(next(a.glob("cells/*/epochs.csv")), (3_000_000, 3_000_000))
    assert default_run_dir(tmp_path / "runs") == (a, [b])
    # A linked run folder is never followed.
    (tmp_path / "runs" / "c").symlink_to(b)
    assert default_run_dir(tmp_path / "runs")[1] == [b]
    # The CLI says which run it rendered and which others it saw.
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(render, ["--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "rendering runs/a (the run trained last; also under runs/: b)" in result.output
    assert (a / "report.html").is_file() and not (b / "report.html").exists()


@pytest.mark.pdf
def test_pdf_has_headings_metric_and_embedded_cjk_font(store_copy) -> None:
    import pypdf

    from reportgen.report.format import pct
    from reportgen.store import load_run

    written = render_report(store_copy, lang="both", pdf=True)
    zh = pypdf.PdfReader(written["pdf:zh-TW"])
    en = pypdf.PdfReader(written["pdf:en"])
    zh_text = "".join(p.extract_text() for p in zh.pages)
    en_text = "".join(p.extract_text() for p in en.pages)
    assert "模型選擇" in zh_text and "混淆矩陣" in zh_text
    assert "Model selection" in en_text
    cell = load_run(store_copy).cells[0]
    assert pct(cell.metrics.test.macro_f1) in en_text
    assert "p = <" not in en_text and "p = <" not in zh_text
    fonts = set()
    for page in zh.pages:
        for ref in (page["/Resources"].get("/Font") or {}).values():
            font = ref.get_object()
            desc = font.get("/FontDescriptor") or (font["/DescendantFonts"][0].get_object().get("/FontDescriptor"))
            desc = desc.get_object() if desc is not None else {}
            if any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                fonts.add(str(font["/BaseFont"]))
    assert any("ReportCJK" in f for f in fonts), fonts
    assert len(zh.pages) > 5


@pytest.mark.browser
def test_chromium_loads_html_without_console_errors(rendered, tmp_path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not on PATH")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0"]
    page = rendered["written"]["html:en"].as_uri()
    dom = subprocess.run([chromium, *flags, "--dump-dom", page], check=False, capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Model selection" in dom.stdout
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr, dom.stderr[-2000:]
    shot = tmp_path / "shot.png"
    res = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,1600", page],
                         check=False, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and shot.is_file() and shot.stat().st_size > 1000, res.stderr[-2000:]


def test_figures_are_cached_and_reused(store_copy, monkeypatch) -> None:
    from reportgen.report import figures

    first = render_report(store_copy, lang="en")["html:en"].read_text(encoding="utf-8")
    cached = sorted((store_copy / "figures").glob("*.png"))
    assert cached, "figures are cached in <run>/figures"

    def no_drawing(*args, **kwargs):
        raise AssertionError("a cached figure was drawn again")

    monkeypatch.setattr(figures.kinds, "draw", no_drawing)  # what FigureSet calls
    again = render_report(store_copy, lang="en")["html:en"].read_text(encoding="utf-8")
    assert again == first
    assert sorted((store_copy / "figures").glob("*.png")) == cached


def test_figure_cache_key_follows_inputs() -> None:
    from reportgen.report.figures import job_key

    job = ("cost", {"points": [{"strategy": "finetune", "backbone": "resnet18", "wall": 1.0, "trainable": 10,
                                "macro_f1": 0.5}], "backbones": ["resnet18"], "labels": {"a": "b"}})
    changed = ("cost", {**job[1], "labels": {"a": "c"}})
    assert job_key(job, "font.otf") == job_key(job, "font.otf")
    assert job_key(job, "font.otf") != job_key(changed, "font.otf")



def test_worker_processes_give_the_same_report_as_one_process(tmp_path, real_store) -> None:
    """Figures drawn by forked workers are byte-identical to figures drawn in this process."""
    one = Path(shutil.copytree(real_store, tmp_path / "one"))
    two = Path(shutil.copytree(real_store, tmp_path / "two"))
    serial = render_report(one, lang="en", jobs=1)["html:en"].read_text(encoding="utf-8")
    pooled = render_report(two, lang="en", jobs=2)["html:en"].read_text(encoding="utf-8")
    assert serial == pooled
    assert sorted(p.read_bytes() for p in (one / "figures").glob("*.png")) == \
        sorted(p.read_bytes() for p in (two / "figures").glob("*.png"))


@pytest.mark.pdf
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_figure_that_cannot_be_drawn_stops_the_pdf_with_a_clear_error(store_copy, monkeypatch, jobs) -> None:
    """No PDF with a hole where a figure should be, and no traceback: a RenderError naming the figure."""
    from reportgen.report import figures

    def broken(**kwargs):
        raise ValueError("boom")

    monkeypatch.setitem(figures.KINDS, "confusion", broken)  # forked workers inherit the patch
    with pytest.raises(RenderError, match=r"the confusion figure could not be drawn: ValueError: boom"):
        render_report(store_copy, lang="en", pdf=True, jobs=jobs)
    assert not (store_copy / "report.pdf").exists() and not (store_copy / "report.html").exists()
