"""Figures made of images from the store: labelled image grids (sample images, augmentation preview).

The images are PNG files the runner wrote into the results store; a job carries the store reader's
checked references to them (:class:`~reportgen.store.images.StoreImage`: their size and mtime are in
the job, so the figure cache notices a rewritten file), which decode them with ``O_NOFOLLOW`` — never
through a symbolic link. Drawn with matplotlib only: render never imports
torch. :func:`image_grid` is the reusable part (rows × columns of images, row labels on the left,
column labels on top, optional column groups); galleries of other sections can draw with it too.

Image grids are drawn at 200 dpi (the rest of the report's figures use ``style.DPI``): each image
is small on the page, and at 110 dpi a 0.5-inch cell would blur the pixels a grader wants to see.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.font_manager
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ...store.images import StoreImage

GRID_DPI = 200
MAX_WIDTH_IN = 7.2  # the A4 text width the report lays figures out for
BLANK = "#f2f2f2"


def literal_text(fig: Figure) -> None:
    """Print every text of ``fig`` as written: no matplotlib mathtext.

    Labels are user text (class names, backbone labels, notes): a class named ``$\\nope{x}$`` or a
    label with one "$" must print those characters, not fail the figure in the mathtext parser. This is
    the one place that escapes labels, for every figure kind (:func:`png_of` calls it): per artist, so it
    holds in a render worker process whatever its ``rcParams`` say.
    """
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)


def png_of(fig: Figure) -> bytes:
    """RGB PNG of a figure (no alpha: WeasyPrint would split it into a soft mask); text printed literally."""
    from PIL import Image

    literal_text(fig)
    canvas = fig.canvas
    canvas.draw()
    img = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG", compress_level=1, optimize=False)
    return buf.getvalue()


def image_grid(images: Sequence[Sequence[np.ndarray | None]], *, row_labels: Sequence[str],
               col_labels: Sequence[str] = (), groups: Sequence[str] = (), group_size: int = 0,
               left: float = 1.0, max_cell: float = 0.9, max_height: float | None = None,
               dpi: int = GRID_DPI) -> Figure:
    """A figure of images in rows × columns: row labels on the left, column labels above each column and,
    when ``groups`` is given, one group label above every ``group_size`` columns with a gap between groups.

    The figure is always the full text width (the report shows figures at most that wide, so a full-width
    figure prints at the size drawn); the grid is centred in it, its cells at most ``max_cell`` inches and
    the whole at most ``max_height`` inches tall. ``None`` draws an empty (grey) cell. Grey images use a
    fixed 0–255 grey scale, so brightness is comparable across cells (no per-image contrast stretch);
    pixels are drawn nearest-neighbour.
    """
    nrows = max(len(images), 1)
    ncols = max((len(r) for r in images), default=1) or 1
    n_groups = len(groups) if groups and group_size else 0
    gap = 0.12 if n_groups else 0.0
    pad = 0.03
    head = (0.2 if col_labels else 0.0) + (0.22 if n_groups else 0.0) + 0.05
    gaps = gap * max(n_groups - 1, 0)
    cell = min(max_cell, (MAX_WIDTH_IN - left - 0.05 - gaps) / ncols)
    if max_height:
        cell = min(cell, (max_height - head - 0.05) / nrows)
    width = MAX_WIDTH_IN
    left += (width - (left + ncols * cell + gaps + 0.05)) / 2  # centre the grid with its labels
    height = head + nrows * cell + 0.05
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    # In points even where the report's fonts were not set up (matplotlib's default is the word "medium").
    size = matplotlib.font_manager.FontProperties(size=matplotlib.rcParams["xtick.labelsize"]).get_size_in_points()

    def x_of(j: int) -> float:
        return left + j * cell + (gap * (j // group_size) if n_groups else 0.0)

    for i, row in enumerate(images):
        y = height - head - (i + 1) * cell
        for j in range(ncols):
            img = row[j] if j < len(row) else None
            ax = fig.add_axes([(x_of(j) + pad) / width, (y + pad) / height, (cell - 2 * pad) / width,
                               (cell - 2 * pad) / height])
            ax.set_axis_off()
            if img is None:
                ax.add_patch(Rectangle((0, 0), 1, 1, color=BLANK, transform=ax.transAxes))
                continue
            kw: dict[str, Any] = {"cmap": "gray", "vmin": 0, "vmax": 255} if img.ndim == 2 else {}
            ax.imshow(img, interpolation="nearest", **kw)
        label = row_labels[i] if i < len(row_labels) else ""
        fig.text((left - 0.08) / width, (y + cell / 2) / height, label, ha="right", va="center", fontsize=size,
                 wrap=True)
    top = height - head
    for j, text in enumerate(col_labels[:ncols]):
        fig.text((x_of(j) + cell / 2) / width, (top + 0.04) / height, text, ha="center", va="bottom",
                 fontsize=size * 0.9, color="#444444")
    for g in range(n_groups):
        x0, x1 = x_of(g * group_size), x_of(min((g + 1) * group_size, ncols) - 1) + cell
        yg = top + (0.24 if col_labels else 0.06)
        fig.text((x0 + x1) / 2 / width, (yg + 0.02) / height, groups[g], ha="center", va="bottom",
                 fontsize=matplotlib.rcParams["axes.titlesize"])
        fig.add_artist(Line2D([(x0 + pad) / width, (x1 - pad) / width], [yg / height] * 2, color="#888888",
                              lw=0.8))
    return fig


def _load(files: Sequence[StoreImage | None]) -> list[np.ndarray | None]:
    return [f.read() if f is not None else None for f in files]


# --------------------------------------------------------------------------- figure kinds
def sample_grid(rows: list[dict], groups: list[str], per_group: int) -> bytes:
    """Sample images: a row per class (``{"label", "files"}``, files in split-major order; None: an empty
    cell), a column group per split."""
    images = [_load(r["files"]) for r in rows]
    fig = image_grid(images, row_labels=[r["label"] for r in rows], groups=groups, group_size=per_group)
    return png_of(fig)


def augment_preview(rows: list[dict], columns: list[str]) -> bytes:
    """Augmentation preview: a row per training image (its class as the label), the original first,
    then one column per random draw of the training pipeline."""
    images = [_load(r["files"]) for r in rows]
    fig = image_grid(images, row_labels=[r["label"] for r in rows], col_labels=columns, max_height=3.4)
    return png_of(fig)


KINDS = {"samples": sample_grid, "augpreview": augment_preview}
