"""Report figures drawn with matplotlib (Agg) as PNG, embedded inline as data URIs.

One module per job:

- :mod:`.style` — the palette, line styles, CJK font, fixed-margin grids and the PNG writer every kind uses;
- :mod:`.draw_training`, :mod:`.draw_results`, :mod:`.draw_images`, :mod:`.draw_explain` — the figure kinds,
  each a function of the data it draws (numbers, arrays, the store reader's image references), never of a
  path to a store file;
- :mod:`.kinds` — the kinds a job may name and :func:`draw`, which runs one job;
- :mod:`.cache` — the ``<run>/figures/<hash>.png`` cache and its key;
- :mod:`.pool` and :mod:`.watchdog` — the forked worker processes, which never outlive their render;
- :mod:`.figure_set` — every figure of one render, cached, queued on the pool in document order, waited for
  one at a time by the PDF layout.
"""

from __future__ import annotations

from .cache import job_key, valid_png
from .figure_set import FigureSet
from .kinds import KINDS, draw
from .pool import default_workers, worker_pool
from .style import DPI, STRATEGY_STYLE, STYLE_VERSION, css_width, data_uri, setup_fonts

__all__ = ["DPI", "KINDS", "STRATEGY_STYLE", "STYLE_VERSION", "FigureSet", "css_width", "data_uri",
           "default_workers", "draw", "job_key", "setup_fonts", "valid_png", "worker_pool"]
