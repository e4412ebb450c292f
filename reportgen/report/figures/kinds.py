"""The figure kinds a report job can name, and :func:`draw`, which a worker process runs for one job.

A job is ``(kind, kwargs)``: the kind names a drawing function, the kwargs are the data it draws
(numbers, labels, arrays, the store reader's image references), so a job pickles to a worker and its
hash keys the figure cache (:mod:`.cache`).
"""

from __future__ import annotations

from . import draw_explain, draw_images, draw_results, draw_training
from .style import setup_fonts

KINDS = {"curves": draw_training.curves, "overlay": draw_training.overlay, "confusion": draw_results.confusion,
         "roc": draw_results.roc, "headline": draw_results.headline, "cost": draw_results.cost, **draw_images.KINDS,
         "mistakes": draw_explain.mistakes, "gradcam": draw_explain.gradcam, "lr": draw_training.lr}


def draw(job: tuple[str, dict], font_path: str) -> bytes:
    """Draw one figure job ``(kind, kwargs)`` and return its PNG bytes."""
    setup_fonts(font_path)
    kind, kwargs = job
    return KINDS[kind](**kwargs)
