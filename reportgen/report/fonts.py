"""Find a font with Traditional Chinese glyphs, so no report shows tofu boxes (□) for zh-TW text.

Order: the pip package ``pylopdf_fonts_zh_tw`` (a declared dependency, so it is normally there),
then system fonts found by ``fc-list`` (Noto CJK, Noto Sans/Serif TC, WenQuanYi). Without any of
them we stop with a RenderError and a fix, because a PDF with missing glyphs looks finished but
is unreadable (WeasyPrint#2523, matplotlib#14269).
"""

from __future__ import annotations

import base64
import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import RenderError

log = logging.getLogger(__name__)

# Family-name fragments of system fonts known to cover Traditional Chinese, best first.
SYSTEM_FAMILIES = ("Noto Sans CJK TC", "Noto Sans TC", "Noto Serif CJK TC", "Noto Serif TC",
                   "Noto Sans CJK", "Noto Serif CJK", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
PROBE = "混淆矩陣遷移學習"  # characters every zh-TW report uses


@dataclass(frozen=True)
class CJKFont:
    """A font file with zh-TW glyphs and the face index inside it (non-zero only for .ttc)."""

    path: Path
    family: str
    index: int = 0


def _from_package() -> CJKFont | None:
    try:
        import pylopdf_fonts_zh_tw
    except ImportError:
        return None
    path = Path(pylopdf_fonts_zh_tw.sans_path())
    return CJKFont(path, "Noto Sans TC") if path.is_file() else None


def _from_fc_list() -> CJKFont | None:
    if shutil.which("fc-list") is None:
        return None
    try:
        out = subprocess.run(["fc-list", ":lang=zh-tw", "file", "family", "index"], capture_output=True,
                             text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found: list[CJKFont] = []
    for line in out.splitlines():
        # fc-list prints "path: family1,family2:index=N"
        path, _, rest = line.partition(":")
        families, _, index = rest.rpartition(":index=")
        families = families or rest
        for fam in SYSTEM_FAMILIES:
            if fam.lower() in families.lower():
                found.append(CJKFont(Path(path.strip()), fam, int(index) if index.strip().isdigit() else 0))
                break
    found.sort(key=lambda f: next(i for i, fam in enumerate(SYSTEM_FAMILIES) if fam == f.family))
    return found[0] if found else None


@lru_cache(maxsize=1)
def find_cjk_font() -> CJKFont:
    """The font every zh-TW glyph is drawn with (figures and PDF).

    Raises:
        RenderError: when no CJK font is installed.
    """
    for finder in (_from_package, _from_fc_list):
        font = finder()
        if font is not None:
            log.debug("CJK font: %s (%s)", font.path, finder.__name__)
            return font
    raise RenderError(
        "no font with Traditional Chinese glyphs was found; zh-TW text would print as empty boxes",
        expected="the pip package pylopdf-fonts-zh-tw, or a system Noto CJK / WenQuanYi font",
        fix="pip install pylopdf-fonts-zh-tw   (or: apt-get install fonts-noto-cjk)")


def has_glyphs(font: CJKFont, text: str = PROBE) -> bool:
    """True when the font maps every character of ``text`` to a glyph."""
    from fontTools.ttLib import TTFont

    with TTFont(str(font.path), fontNumber=font.index, lazy=True) as tt:
        cmap = tt.getBestCmap() or {}
    return all(ord(ch) in cmap for ch in text)


def subset_font(font: CJKFont, text: str, out_path: Path) -> Path:
    """Write a copy of ``font`` that holds only the glyphs of ``text``; return its path.

    WeasyPrint without HarfBuzz-subset keeps glyph ids when it subsets, which costs seconds per PDF
    for a 65,000-glyph CJK font; handing it a font of a few hundred glyphs makes the PDF ~10× faster.
    Falls back to the full font when fontTools cannot subset it.
    """
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont

        opts = subset.Options()
        opts.ignore_missing_glyphs = True
        opts.notdef_outline = True
        # No OpenType layout closure: it would pull in hundreds of unused glyph variants.
        opts.layout_features = []
        opts.drop_tables += ["GSUB", "GPOS", "BASE", "DSIG"]
        opts.desubroutinize = True
        opts.font_number = font.index
        logging.getLogger("fontTools").setLevel(logging.WARNING)  # it logs every glyph name at INFO
        # No timestamp rewrite on save: the same text must give the same bytes, so a re-render of
        # unchanged results gives an identical HTML file.
        tt = TTFont(str(font.path), fontNumber=font.index, lazy=True, recalcTimestamp=False)
        subsetter = subset.Subsetter(opts)
        subsetter.populate(text="".join(sorted(set(text))))
        subsetter.subset(tt)
        buf = io.BytesIO()
        tt.save(buf)
        suffix = ".otf" if buf.getvalue()[:4] == b"OTTO" else ".ttf"
        out_path = out_path.with_suffix(suffix)
        out_path.write_bytes(buf.getvalue())
        return out_path
    except Exception as exc:  # noqa: BLE001 - a slower PDF beats no PDF
        log.warning("could not subset %s (%s); embedding the full font", font.path, exc)
        return font.path


def font_data_uri(path: Path) -> str:
    """The font file ``path`` (a :func:`subset_font` result, or the system font it fell back to) as a data URI,
    so the HTML carries its own CJK glyphs."""
    return "data:font/otf;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
