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
