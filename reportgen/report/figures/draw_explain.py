"""Image grids for "Why the models err": the confident-mistakes gallery and the Grad-CAM grid.

Registered as figure kinds in :mod:`.kinds` (this module imports neither it nor the other kinds): matplotlib
(Agg) draws the PNGs the runner stored, handed over as the store reader's checked references
(:class:`~reportgen.store.images.StoreImage`), so render never touches torch. Images are drawn at 200 dpi
with nearest-neighbour sampling — a 32-px X-ray is shown as the model saw it, not smoothed — and the
CAM as a translucent heat map over the image.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ...store.images import StoreImage
from .draw_images import png_of as _png  # one PNG writer for every figure kind

# The cache version of these kinds lives in sections/errors.py (GRID_VERSION, passed in every job), so the
# report's sections import no matplotlib; bump it there when drawing here changes.
DPI = 200  # image panels carry detail: sharp in print (item 8 of issue 11)
TEXT_WIDTH_IN = 7.2  # A4 text width used by every full-width figure
CAM_ALPHA = 0.45
MAX_HEIGHT_IN = 6.6  # A4 text height less a caption of four lines and the section text around it


GRAY = ("L", "I", "I;16")  # modes drawn as one grey channel


def _read(image: StoreImage) -> np.ndarray:
    """A stored PNG the loader checked; one that vanished or broke since is this figure's error."""
    img = image.read(gray=GRAY)
    if img is None:
        raise FileNotFoundError(f"{image.rel} is missing, a link or not an image")
    return img


MIN_TITLE_PT = 4.5  # a panel title shrinks to this size at most before it may be wrapped further


def _wrap_options(text: str) -> list[str]:
    """A panel title laid out on ever more lines: as given, then each line broken at its arrow or spaces."""
    options = [text]
    arrowed = "\n".join(line.replace(" → ", " →\n", 1) for line in text.split("\n"))
    if arrowed != text:
        options.append(arrowed)
    for width in (14, 10, 7):
        wrapped = "\n".join(textwrap.fill(line, width=width, break_long_words=False) for line in arrowed.split("\n"))
        if wrapped not in options:
            options.append(wrapped)
    return options


def fit_titles(fig: Figure, titles: list, width_px: float, max_lines: int) -> None:
    """Every panel title narrower than its panel: break it at the arrow or spaces, then shrink its font.

    Titles drawn at one size and never measured ran into each other ("PNEUMONIA → NORMALPNEUMONIA → NORMAL")
    when class names were long; here each title's extent is measured on the figure's own renderer.
    """
    renderer = fig.canvas.get_renderer()
    for title in titles:
        text, size = title.get_text(), title.get_fontsize()
        options = [o for o in _wrap_options(text) if o.count("\n") < max_lines] or [text]
        done = False
        while not done:
            for option in options:
                title.set_text(option)
                title.set_fontsize(size)
                if title.get_window_extent(renderer).width <= width_px:
                    done = True
                    break
            if not done:
                if size <= MIN_TITLE_PT:
                    break  # the last option at the smallest size: a very long name, still inside the margin
                size = max(size - 0.5, MIN_TITLE_PT)


def image_grid(rows: list[dict], *, ncols: int, header: list[str] | None = None, label_in: float = 1.0,
               fontsize: float = 6.5) -> bytes:
    return _png(grid_figure(rows, ncols=ncols, header=header, label_in=label_in, fontsize=fontsize))


def grid_figure(rows: list[dict], *, ncols: int, header: list[str] | None = None, label_in: float = 1.0,
                fontsize: float = 6.5) -> Figure:
    """A grid of stored PNGs: ``rows`` = ``{"label", "panels": [panel | None], "empty"?}``, a panel =
    ``{"image", "title", "cam"?}`` (:class:`StoreImage` references; ``cam``: a grayscale PNG drawn over the
    image as a heat map).

    The grid fills the text width; a row label sits at the left, column headers (if any) on top.
    """
    ncols = max(ncols, 1)
    nrows = max(len(rows), 1)
    title_in = 0.42  # room for a three-line panel title (a long "true → predicted" is broken at the arrow)
    head_in = 0.42 if header else 0.05  # up to three lines of a wrapped strategy name
    # As wide as the text allows, at most 1.35 in a panel, and never taller than a page's text block.
    cell = min((TEXT_WIDTH_IN - label_in) / ncols, 1.35, (MAX_HEIGHT_IN - head_in) / nrows - title_in)
    # Always the full text width (the page scales a wide figure to it): a narrower canvas would be enlarged,
    # height and all, so a tall grid is centred with margins instead.
    w = TEXT_WIDTH_IN
    x0 = max((w - label_in - cell * ncols) / 2, 0.0)
    h = head_in + nrows * (cell + title_in) + 0.05
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    titles = []
    for r, row in enumerate(rows):
        top = h - head_in - r * (cell + title_in)
        fig.text((x0 + 0.02) / w, (top - title_in - cell / 2) / h, row["label"], ha="left", va="center", fontsize=fontsize + 0.5,
                 wrap=True)
        panels = row.get("panels") or []
        if not panels and row.get("empty"):
            fig.text((x0 + label_in + cell * ncols / 2) / w, (top - title_in - cell / 2) / h, row["empty"], ha="center",
                     va="center", fontsize=fontsize + 0.5, color="#555555")
        for col, panel in enumerate(panels[:ncols]):
            if panel is None:
                continue
            ax = fig.add_axes(((x0 + label_in + col * cell + 0.03) / w, (top - title_in - cell + 0.03) / h,
                               (cell - 0.06) / w, (cell - 0.06) / h))
            img = _read(panel["image"])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
            if panel.get("cam"):
                ax.imshow(_read(panel["cam"]), cmap="jet", vmin=0, vmax=255, alpha=CAM_ALPHA,
                          interpolation="bilinear")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_linewidth(0.4)
            if panel.get("title"):
                titles.append(ax.set_title(panel["title"], fontsize=fontsize, pad=2, linespacing=1.1))
    # A title may use its panel's width less a gap of 0.06 in to the next one.
    fit_titles(fig, titles, (cell - 0.06) * DPI, max_lines=3)
    head_size = fontsize + (1 if cell >= 1.0 else 0)
    # Latin characters per panel width at this size (Noto Sans averages ~0.6 em; keep a margin between columns)
    chars = max(6, int(cell * 72 / (head_size * 0.68)))
    for col, text in enumerate((header or [])[:ncols]):
        text = textwrap.fill(text, width=chars)  # CJK names have no spaces and fit as they are
        fig.text((x0 + label_in + (col + 0.5) * cell) / w, (h - 0.05) / h, text, ha="center", va="top",
                 fontsize=head_size, linespacing=1.1)
    return fig


def mistakes(rows: list[dict], ncols: int, version: int = 0) -> bytes:
    """Per strategy (a row), its most confident test mistakes: image, true → predicted, confidence."""
    return image_grid(rows, ncols=ncols, label_in=1.1)


def gradcam(rows: list[dict], header: list[str], version: int = 0) -> bytes:
    """Rows = the fixed test images (true class), first column the image, then one CAM overlay per strategy."""
    return image_grid(rows, ncols=len(header), header=header, label_in=0.9)
