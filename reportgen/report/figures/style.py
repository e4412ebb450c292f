"""One style for every report figure: palette, line styles, fonts, fixed-margin grids, PNG output.

The Okabe–Ito colour-blind-safe palette with a fixed colour *and* line style per strategy (legible in
greyscale print), the CJK font registered so zh-TW labels have real glyphs, 200 dpi RGB PNGs (sharp in
print: report.css gives them ``image-resolution: 200dpi``, so they print at their drawn size in inches;
no alpha channel for WeasyPrint to split into a soft mask).
"""

from __future__ import annotations

import base64
import os
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402 - after choosing the backend
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ...registry import strategies as strategy_registry  # noqa: E402
from . import draw_images  # noqa: E402

DPI = 200  # print resolution at the drawn size; report.css image-resolution must say the same


def css_width(png: bytes) -> str:
    """The drawn width of a figure PNG in CSS pixels (96 per inch), for screens that ignore image-resolution."""
    width = int.from_bytes(png[16:20], "big")  # the PNG IHDR width
    return f"{width * 96 / DPI:.0f}px"
STYLE_VERSION = 4  # bump when a drawing function changes, so cached figures are redrawn
STRATEGY_STYLE = strategy_registry.STYLE  # Okabe–Ito; the same colour for a strategy in every figure
BACKBONE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_FONT_STATE: dict[str, str] = {}


def setup_fonts(font_path: str | os.PathLike) -> str:
    """Register the CJK font with matplotlib and make it the default family; return its name."""
    path = str(font_path)
    if _FONT_STATE.get("path") == path:
        return _FONT_STATE["family"]
    font_manager.fontManager.addfont(path)
    family = font_manager.FontProperties(fname=path).get_name()
    matplotlib.rcParams.update({
        "font.family": "sans-serif", "font.sans-serif": [family], "font.size": 8.5,
        "axes.titlesize": 9, "axes.labelsize": 8.5, "legend.fontsize": 7.5, "axes.spines.top": False,
        "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "svg.fonttype": "none",
        "axes.unicode_minus": False, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5,
    })
    # Labels are user text (class names, backbone labels): a "$" must print as a dollar sign, not
    # start matplotlib mathtext (an unbalanced "$5" would fail every figure that shows it).
    matplotlib.rcParams["text.parse_math"] = False
    _FONT_STATE.update(path=path, family=family)
    return family


def _grid(nrows: int, ncols: int, w: float, h: float, *, sharex: Any = False, sharey: Any = False,
          left: float = 0.6, bottom: float = 0.45, top: float = 0.4, right: float = 0.12,
          wspace: float = 0.12, hspace: float = 0.25) -> tuple[Figure, Any]:
    """A figure of ``nrows × ncols`` axes with fixed margins given in inches (no layout pass).

    Fixed margins instead of constrained layout, few ticks and shared axes: layout passes and tick
    labels are most of the drawing time.
    """
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        wspace=wspace, hspace=hspace)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey)
    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    return fig, axes


_png = draw_images.png_of  # RGB PNG, fast zlib level (one writer for every figure kind)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _style(strategy: str) -> dict:
    return STRATEGY_STYLE.get(strategy, {"color": "#555555", "ls": "-", "marker": "o"})


def _clean(xs: list, ys: list) -> tuple[list, list]:
    pairs = [(x, y) for x, y in zip(xs, ys, strict=False) if x is not None and y is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _width(n: int, per: float = 1.75, extra: float = 0.8) -> float:
    """Inches: per panel plus margins, at least room for a three-entry legend, at most the A4 text width."""
    return min(max(per * n + extra, 3.4), 7.2)


def _top_legend(fig: Figure, handles: list, labels: list[str], h: float, ncols: int = 5) -> None:
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncols=min(len(labels), ncols),
               frameon=False, borderaxespad=0.2, handlelength=2.4)

