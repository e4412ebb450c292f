"""A CJK font is found, really has the glyphs, and its absence is a clear RenderError."""

from __future__ import annotations

import pytest

from reportgen.errors import RenderError
from reportgen.report import fonts


def test_found_font_has_zh_tw_glyphs() -> None:
    font = fonts.find_cjk_font()
    assert font.path.is_file()
    assert fonts.has_glyphs(font, "混淆矩陣")


def test_matplotlib_sees_the_glyphs() -> None:
    from matplotlib.ft2font import FT2Font

    ft = FT2Font(str(fonts.find_cjk_font().path))
    assert all(ft.get_char_index(ord(ch)) != 0 for ch in "混淆矩陣")


def test_subset_keeps_needed_glyphs(tmp_path) -> None:
    font = fonts.find_cjk_font()
    out = fonts.subset_font(font, "混淆矩陣 abc", tmp_path / "sub")
    assert out.stat().st_size < font.path.stat().st_size / 10
    assert fonts.has_glyphs(fonts.CJKFont(out, font.family), "混淆矩陣abc")


def test_no_font_is_a_render_error(monkeypatch, store_copy) -> None:
    monkeypatch.setattr(fonts, "_from_package", lambda: None)
    monkeypatch.setattr(fonts, "_from_fc_list", lambda: None)
    fonts.find_cjk_font.cache_clear()
    try:
        with pytest.raises(RenderError) as err:
            fonts.find_cjk_font()
        assert "pylopdf-fonts-zh-tw" in str(err.value)
        from reportgen.report import render_report

        with pytest.raises(RenderError):
            render_report(store_copy, lang="en")
        assert not (store_copy / "report.html").exists()
    finally:
        fonts.find_cjk_font.cache_clear()


def test_html_embeds_the_cjk_font_it_needs(store_copy) -> None:
    """A browser without a CJK system font must still draw zh-TW text: the HTML carries a subset font."""
    import base64
    import io
    import re

    from fontTools.ttLib import TTFont

    from reportgen.report import render_report

    html = render_report(store_copy, lang="zh-TW")["html:zh-TW"].read_text(encoding="utf-8")
    m = re.search(r"data:font/otf;base64,([A-Za-z0-9+/=]+)", html)
    assert m, "no embedded font"
    cmap = TTFont(io.BytesIO(base64.b64decode(m.group(1)))).getBestCmap()
    for ch in "混淆矩陣模型微調":
        if ch in html:
            assert ord(ch) in cmap, ch
    assert ord("摘") in cmap  # the abstract heading
