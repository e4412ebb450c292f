"""Report figures drawn with matplotlib (Agg) as PNG, embedded inline as data URIs.

One style for every figure: the Okabe–Ito colour-blind-safe palette with a fixed colour *and* line
style per strategy (legible in greyscale print), the CJK font registered so zh-TW labels have real
glyphs, 200 dpi RGB PNGs (sharp in print: report.css gives them ``image-resolution: 200dpi``, so they
print at their drawn size in inches; no alpha channel for WeasyPrint to split into a soft mask).

Drawing time is spent per axes (tick labels, text layout with a 65,000-glyph CJK font), so the
report uses **small multiples** — one figure per (dataset, strategy) with a column per backbone,
shared axes and one legend — instead of one figure per run: the same panels, half the text to lay
out, a quarter of the figures. Figures are drawn by forked worker processes (one per CPU) in
document order while the main process lays out the PDF, which waits only for the figure it needs
next (:class:`FigureSet`).

Every figure is cached in ``<run>/figures/<hash>.png``, keyed by a hash of everything it is drawn
from (kind, data, labels, input-file stamps, style version, matplotlib version, font), so a
re-render after editing notes redraws nothing and a re-render after one new run redraws only the
figures that show it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import multiprocessing
import os
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

from ..errors import RenderError
from ..registry import strategies as strategy_registry
from . import figures_explain, figures_images

log = logging.getLogger(__name__)

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


_png = figures_images.png_of  # RGB PNG, fast zlib level (one writer for every figure kind)


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


# --------------------------------------------------------------------------- figure kinds
def _boundary(ax: Any, s: dict, labels: dict, *, text: bool = False) -> None:
    """The warm-up epochs shaded and the warm-up → fine-tune boundary (between the last frozen and the
    first fine-tune epoch) drawn solid: unlike any strategy's line style, so it reads in greyscale too."""
    if s.get("boundary") is None:
        return
    color = _style("warmup")["color"]
    ax.axvspan(min(s["epoch"]), s["boundary"], color=color, alpha=0.12, lw=0, label=labels["boundary"])
    ax.axvline(s["boundary"], color=color, lw=1.0, alpha=0.8)
    if text:
        ax.text(s["boundary"], 1.0, " " + labels["boundary"], transform=ax.get_xaxis_transform(), fontsize=6.5,
                va="top", ha="left", color=color)


def curves(series: list[dict], titles: list[str], labels: dict) -> bytes:
    """Small multiples, one column per run: loss (top), accuracy, and the selection metric when it is
    neither, per epoch; training (grey, solid) vs validation (strategy colour, dashed), best epoch dotted,
    the warm-up → fine-tune boundary dash-dotted."""
    n = max(len(series), 1)
    metrics = {s["metric"] for s in series}
    rows = ["loss", "acc"] + (["metric"] if metrics - {"val_acc", "val_loss"} else [])
    narrow = n <= 2  # a two-row legend: one row of four entries would be wider than the figure
    w, h = _width(n), 1.05 + 1.25 * len(rows) + (0.2 if narrow else 0)
    fig, axes = _grid(len(rows), n, w, h, sharex=True, sharey="row", top=0.82 if narrow else 0.62, hspace=0.3)
    for col, (s, title) in enumerate(zip(series, titles, strict=False)):
        color = _style(s["strategy"])["color"]
        for row, key in enumerate(rows):
            ax = axes[row][col]
            for split, ls in (("train", "-"), ("val", "--")):
                x, y = _clean(s["epoch"], s.get(f"{split}_{key}") or [])
                if x:
                    ax.plot(x, y, ls=ls, color=color if split == "val" else "#444444", marker=".", ms=4,
                            lw=1.3, label=labels[split])
            if s.get("best_epoch"):
                ax.axvline(s["best_epoch"], color="#777777", lw=0.9, ls=":", label=labels["best_epoch"])
            _boundary(ax, s, labels, text=row == 0)
        axes[0][col].set_title(title if len(metrics) == 1 else f"{title} ({s['metric']})")
        axes[-1][col].set_xlabel(labels["epoch"])
    axes[0][0].set_ylabel(labels["loss"])
    axes[1][0].set_ylabel(labels["accuracy"])
    if len(rows) == 3:
        axes[2][0].set_ylabel(series[0]["metric"] if len(metrics) == 1 else labels["val_metric"])
    handles: dict[str, Any] = {}
    for ax in axes[0]:  # the boundary may be on any column's axes
        for hd, name in zip(*ax.get_legend_handles_labels(), strict=False):
            handles.setdefault(name, hd)
    _top_legend(fig, list(handles.values()), list(handles), h, ncols=2 if narrow else 5)
    return _png(fig)


def overlay(series: list[dict], titles: list[str], labels: dict) -> bytes:
    """One dataset, a column per backbone: validation loss (top) and selection metric (bottom) per
    epoch, every strategy overlaid in its fixed colour and line style."""
    n = max(len(series), 1)
    narrow = n <= 2  # strategy names are long: a two-column legend, and room for it
    w, h = max(_width(n), 4.6) if narrow else _width(n), 3.5 + (0.2 if narrow else 0)
    fig, axes = _grid(2, n, w, h, sharex=True, sharey="row", top=0.82 if narrow else 0.62, hspace=0.3)
    legend: dict[str, Any] = {}
    metrics = {s["metric"] for group in series for s in group}
    for col, (group, title) in enumerate(zip(series, titles, strict=False)):
        for s in group:
            st = _style(s["strategy"])
            name = labels.get(f"strategy.{s['strategy']}", s["strategy"])
            for row, key in enumerate(("val_loss", "val_metric")):
                x, y = _clean(s["epoch"], s[key])
                if x:
                    (line,) = axes[row][col].plot(x, y, color=st["color"], ls=st["ls"], marker=st["marker"], ms=2.5,
                                                  lw=1.3)
                    legend.setdefault(name, line)
            for ax in axes[:, col]:
                _boundary(ax, s, labels)
        axes[0][col].set_title(title)
        axes[1][col].set_xlabel(labels["epoch"])
    axes[0][0].set_ylabel(f"{labels['val']} {labels['loss']}")
    axes[1][0].set_ylabel(f"{labels['val']} {next(iter(metrics))}" if len(metrics) == 1 else labels["val_metric"])
    handles = dict(legend)
    for hd, name in zip(*axes[0][0].get_legend_handles_labels(), strict=False):
        handles.setdefault(name, hd)  # the warm-up boundary
    _top_legend(fig, list(handles.values()), list(handles), h, ncols=2 if narrow else 5)
    return _png(fig)


def log_ticks(lo: float, hi: float, *, at_least: int = 4) -> list[float]:
    """Tick values for a log axis from ``lo`` to ``hi``: decades, then 1-2-5, then every 1–9 step, until
    ``at_least`` of them fall inside — a cosine schedule from 1e-3 to 2e-5 spans one decade tick only, and an
    axis labelled "0.001" alone tells the reader nothing about the rates below it."""
    import math

    ticks: list[float] = []
    for subs in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                 for m in subs]
        ticks = [v for v in ticks if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
        if len(ticks) >= at_least:
            break
    return ticks


def lr(series: list[dict], labels: dict) -> bytes:
    return _png(lr_figure(series, labels))


def lr_figure(series: list[dict], labels: dict) -> Figure:
    """The learning rate each epoch ran with, one line per schedule (runs with identical rates share one
    line and one label); log scale when it spans a decade or more; warm-up epochs shaded."""
    # The legend goes under the axes: its labels (several strategies sharing a schedule) can be long.
    long = max((len(s["label"]) for s in series), default=0) > 40
    entries = len(series) + any(s.get("boundary") is not None for s in series)
    legend_rows = entries if long else -(-entries // 2)
    w, h = 6.4, 2.3 + 0.16 * legend_rows
    fig, axes = _grid(1, 1, w, h, left=0.75, bottom=0.55 + 0.16 * legend_rows, top=0.15, right=0.2)
    ax = axes[0][0]
    values = [v for s in series for v in s["lr"] if v and v > 0]
    for i, s in enumerate(series):
        st = _style(s["strategy"])
        ax.plot(s["epoch"], s["lr"], color=st["color"], ls=st["ls"], marker=BACKBONE_MARKERS[i % 8], ms=3, lw=1.3,
                label=s["label"])
        _boundary(ax, s, labels)
    if values and max(values) / min(values) >= 10:
        ax.set_yscale("log")
        ticks = log_ticks(min(values), max(values))
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_minor_formatter(NullFormatter())
        if len(ticks) > 8:  # thin a crowded 1–9 set to every other label
            ax.yaxis.set_major_locator(FixedLocator(ticks[::2]))
    # Plain "0.001 / 2.5e-05" as the tables print it; no mathtext (see cost()).
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}"))
    ax.set_xlabel(labels["epoch"])
    ax.set_ylabel(labels["lr"])
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=False))
    fig.legend(list(unique.values()), list(unique), loc="lower center", bbox_to_anchor=(0.5, 0.0),
               ncols=1 if long else 2, fontsize=6.5, frameon=False, handlelength=2.4)
    return fig


def confusion(panels: list[dict], classes: list[str], labels: dict) -> bytes:
    """Confusion matrices side by side: colour = row-normalized share, text = count and percent."""
    n = max(len(panels), 1)
    k = max(len(classes), 1)
    side = 1.5 + 0.45 * k
    w, h = min(side * n + 0.3, 7.2), side + 0.35
    label_in = 0.45 + 0.075 * max((len(c) for c in classes), default=4)
    # Room for the class names on the first panel only (fixed margins, no layout pass).
    fig, axes = _grid(1, n, w, h, left=min(0.45 * w, label_in), bottom=0.22 * h, top=0.12 * h, right=0.02 * w,
                      wspace=0.15)
    axes = axes[0]
    for ax, p in zip(axes, panels, strict=False):
        cmn = p["cmn"] or [[0.0] * k for _ in range(k)]
        ax.imshow(cmn, cmap="Blues", vmin=0, vmax=1)
        ax.grid(False)
        for i, row in enumerate(p["cm"]):
            for j, v in enumerate(row):
                share = cmn[i][j] if i < len(cmn) and j < len(cmn[i]) else 0
                ax.text(j, i, f"{v}\n{share * 100:.0f}%", ha="center", va="center", fontsize=7.5,
                        color="white" if share > 0.55 else "black")
        ax.set_xticks(range(k), classes, rotation=30 if k > 2 else 0, ha="right" if k > 2 else "center")
        ax.set_yticks(range(k), classes if ax is axes[0] else [])
        ax.set_xlabel(labels["predicted"])
        ax.set_title(p["title"])
    axes[0].set_ylabel(labels["true"])
    return _png(fig)


CLASS_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def _ovr_panel(ax: Any, panel: dict, labels: dict) -> None:
    """One-vs-rest ROC of one cell: a curve per class, and the macro average of their TPRs on the union
    of their FPRs (scikit-learn's construction). Legend numbers are the stored AUCs passed in."""
    import numpy as np

    from ..describe.metrics import roc_curve_points
    from ..store import read_predictions

    pred = read_predictions(Path(panel["path"]) / "predictions_test.csv")
    curves = []
    for k, name in enumerate(panel["classes"]):
        try:
            fpr, tpr, _ = roc_curve_points((pred.labels == k).astype(int), pred.probs[:, k])
        except ValueError:  # the class is absent from the test set: no curve, no AUC
            continue
        curves.append((fpr, tpr))
        ax.plot(fpr, tpr, color=CLASS_COLORS[k % len(CLASS_COLORS)], lw=1.1,
                label=f"{name} {panel['auc_texts'][k]}")
    if curves:
        grid = np.unique(np.concatenate([c[0] for c in curves]))
        mean_tpr = np.mean([np.interp(grid, fpr, tpr) for fpr, tpr in curves], axis=0)
        ax.plot(grid, mean_tpr, color="#222222", lw=1.8, ls="--", label=f"{labels['macro']} {panel['macro_text']}")


def roc(panels: list[dict], labels: dict) -> bytes:
    """ROC on the test set. Binary: a panel per backbone, a curve per strategy. Multi-class (panels marked
    ``ovr``): a panel per strategy, a one-vs-rest curve per class plus the macro average. AUC in the legend."""
    from ..describe.metrics import roc_curve_points
    from ..store import read_predictions

    n = max(len(panels), 1)
    side = min(2.3, (7.2 - 0.8) / n)
    w, h = side * n + 0.8, side + 0.75
    fig, axes = _grid(1, n, w, h, sharex=True, sharey=True, left=0.6, bottom=0.5, top=0.3, right=0.2,
                      wspace=0.1)
    for ax, panel in zip(axes[0], panels, strict=False):
        ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls=":", label=labels["chance"])
        if panel.get("ovr"):
            _ovr_panel(ax, panel, labels)
        for c in panel.get("cells", []):
            pred = read_predictions(Path(c["path"]) / "predictions_test.csv")
            try:
                fpr, tpr, _ = roc_curve_points(pred.labels, pred.probs[:, 1])
            except (ValueError, IndexError):
                continue
            st = _style(c["strategy"])
            ax.plot(fpr, tpr, color=st["color"], ls=st["ls"], lw=1.4,
                    label=f"{labels.get('strategy.' + c['strategy'], c['strategy'])} {c['auc_text']}")
        ax.set_aspect("equal")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=2))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=2))
        ax.set_title(panel["title"])
        if n == 1:
            ax.set_xlabel(labels["fpr"])
        ax.legend(loc="lower right", fontsize=6, title=labels["auc"], title_fontsize=6, handlelength=1.8,
                  borderpad=0.3, labelspacing=0.25)
    if n > 1:  # one x label under the row, not one per panel
        fig.supxlabel(labels["fpr"], y=0.02, fontsize=matplotlib.rcParams["axes.labelsize"])
    axes[0][0].set_ylabel(labels["tpr"])
    return _png(fig)


def headline(backbones: list[str], strategies: list[str], values: dict, labels: dict) -> bytes:
    """Macro-F1 and AUC per backbone × strategy, with 95 % CI bars."""
    w, h = 6.4, 2.9
    fig, axes = _grid(1, 2, w, h, left=0.55, bottom=0.5, top=0.6, wspace=0.2)
    axes = axes[0]
    width = 0.8 / max(len(strategies), 1)
    for ax, key, ci_key, title in ((axes[0], "macro_f1", "ci_f1", labels["macro_f1"]),
                                   (axes[1], "auc", "ci_auc", labels["auc"])):
        for si, s in enumerate(strategies):
            xs, ys, lo, hi = [], [], [], []
            for bi, bb in enumerate(backbones):
                v = values.get(f"{bb}|{s}") or {}
                if v.get(key) is None:
                    continue
                ci = v.get(ci_key) or [None, None]
                xs.append(bi + (si - (len(strategies) - 1) / 2) * width)
                ys.append(v[key])
                lo.append(v[key] - ci[0] if ci[0] is not None else 0)
                hi.append(ci[1] - v[key] if ci[1] is not None else 0)
            st = _style(s)
            ax.bar(xs, ys, width=width * 0.92, color=st["color"], label=labels.get(f"strategy.{s}", s),
                   yerr=[lo, hi], capsize=2, error_kw={"lw": 0.8})
        ax.set_xticks(range(len(backbones)), backbones, rotation=15 if len(backbones) > 2 else 0)
        ax.set_ylim(0, 1)
        ax.set_title(title)
    handles, names = axes[0].get_legend_handles_labels()
    _top_legend(fig, handles, names, h)  # above the bars, never over them
    return _png(fig)


def cost(points: list[dict], backbones: list[str], labels: dict) -> bytes:
    """Macro-F1 against trainable parameters and against wall time: what each score cost."""
    w, h = 6.4, 2.6
    fig, axes = _grid(1, 2, w, h, left=0.55, bottom=0.5, top=0.15, right=1.7, wspace=0.25)
    axes = axes[0]
    for ax, key, title in ((axes[0], "trainable", labels["trainable_params"]), (axes[1], "wall", labels["wall_time"])):
        for p in points:
            if p.get(key) is None or p.get("macro_f1") is None:
                continue
            st = _style(p["strategy"])
            marker = BACKBONE_MARKERS[backbones.index(p["backbone"]) % len(BACKBONE_MARKERS)] \
                if p["backbone"] in backbones else "o"
            ax.scatter(p[key], p["macro_f1"], color=st["color"], marker=marker, s=30, edgecolors="black",
                       linewidths=0.4)
        if key == "trainable":  # parameters span orders of magnitude (frozen head vs whole network)
            ax.set_xscale("log")
            # Plain "10k / 1M" tick labels: the default log labels go through mathtext, whose parser
            # alone costs a quarter of a second to build.
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlabel(title)
        ax.set_ylabel(labels["macro_f1"] if ax is axes[0] else "")
    handles = [axes[1].scatter([], [], color=_style(s)["color"], marker="o", s=30,
                               label=labels.get(f"strategy.{s}", s))
               for s in dict.fromkeys(p["strategy"] for p in points)]
    handles += [axes[1].scatter([], [], color="white", edgecolors="black", marker=BACKBONE_MARKERS[i % 8], s=30,
                                label=bb) for i, bb in enumerate(backbones)]
    fig.legend(handles=handles, loc="center right", fontsize=6.5, frameon=False)
    return _png(fig)


KINDS = {"curves": curves, "overlay": overlay, "confusion": confusion, "roc": roc, "headline": headline,
         "cost": cost, **figures_images.KINDS, "mistakes": figures_explain.mistakes,
         "gradcam": figures_explain.gradcam, "lr": lr}


def draw(job: tuple[str, dict], font_path: str) -> bytes:
    """Draw one figure job ``(kind, kwargs)`` and return its PNG bytes."""
    setup_fonts(font_path)
    kind, kwargs = job
    return KINDS[kind](**kwargs)


# --------------------------------------------------------------------------- cache
def job_key(job: tuple[str, dict], font_path: str) -> str:
    """A hash of everything a figure is drawn from. Input files a job reads itself (ROC: the
    predictions) are named with their size and mtime in the job, so rewriting them changes the key."""
    blob = json.dumps([STYLE_VERSION, matplotlib.__version__, DPI, str(font_path), job[0], job[1]],
                      sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def default_workers() -> int:
    """Processes that draw figures (and the other languages' PDFs): one per CPU, at most 4.

    Only where ``fork`` exists (Linux): a forked worker inherits matplotlib, the registered font and
    the imported modules, so it starts in milliseconds; a spawned one would re-import for a second.
    ``REPORTGEN_RENDER_JOBS=1`` turns the pool off.
    """
    env = os.environ.get("REPORTGEN_RENDER_JOBS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if sys.platform != "linux":
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, 4))


def worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """A forked process pool, or None (draw in this process) for one worker or no ``fork``."""
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_lower_priority)
    # Fork every worker now, from this thread, before any helper thread exists or WeasyPrint holds
    # a lock: the first submit launches them all (the fork start method never spawns lazily).
    pool.submit(os.getpid)
    return pool


def _lower_priority() -> None:
    """Worker set-up: die with the parent, and yield to it.

    A worker must not outlive a killed render (``kill -9`` of the parent never runs the pool's
    shutdown): on Linux the kernel sends it SIGKILL when the parent dies (``PR_SET_PDEATHSIG``);
    elsewhere, or if that call fails, a watchdog thread exits once the parent pid changes.
    Workers yield to the main process: its PDF layout is the critical path, the figures it
    waits for are queued in the order it needs them, and spare cycles finish them anyway."""
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watchdog").start()
    try:
        os.nice(5)
    except OSError:
        pass


def _die_with_parent() -> bool:
    if sys.platform != "linux":
        return False
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        return libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, interval: float = 0.5) -> None:
    import time

    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def valid_png(data: bytes) -> bool:
    """A complete, decodable PNG (a truncated or overwritten cache entry must be redrawn, not embedded)."""
    if not data.startswith(_PNG_SIGNATURE) or not data.endswith(_PNG_END):
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # decompresses every row: a corrupted IDAT fails here
    except Exception:  # noqa: BLE001 - PIL raises many kinds for bad data; any of them means "redraw"
        return False
    return True


class FigureSet:
    """Every figure of one render, looked up by key; drawn in the background where a pool is given.

    Cached figures are read at once. The others are submitted to ``pool`` in document order (when
    the set is made, or by :meth:`start`), so the caller can go on (lay out the PDF, whose image fetches call :meth:`get` and
    wait only for the figure they need) while the figures are drawn on the other cores. Without a
    pool, :meth:`get` draws a figure the first time it is asked for.

    Args:
        jobs: ``(kind, kwargs)`` figure jobs.
        font_path: the CJK font to draw text with.
        cache_dir: a folder of ``<key>.png`` files to read and fill (``<run>/figures``); None: no cache.
        pool: a process pool from :func:`worker_pool`, or None.
    """

    def __init__(self, jobs: list[tuple[str, dict]], font_path: str, *, cache_dir: str | os.PathLike | None = None,
                 pool: ProcessPoolExecutor | None = None):
        self.font_path = str(font_path)
        self.keys = [job_key(j, self.font_path) for j in jobs]
        self.cache = Path(cache_dir) if cache_dir is not None else None
        self.drawn = 0
        self._jobs = dict(zip(self.keys, jobs, strict=False))
        self._done: dict[str, bytes] = {}
        self._pending: dict[str, Future] = {}
        self._lock = threading.Lock()
        for key in self._jobs:
            png = self._read_cache(key)
            if png is not None:
                self._done[key] = png
        if pool is not None:
            self.start(pool)

    def start(self, pool: ProcessPoolExecutor) -> None:
        """Queue every figure not cached yet on ``pool``, in document order."""
        for key in self._jobs:
            if key not in self._done and key not in self._pending:
                self._pending[key] = pool.submit(draw, self._jobs[key], self.font_path)

    def _read_cache(self, key: str) -> bytes | None:
        path = self.cache / f"{key}.png" if self.cache is not None else None
        if path is not None and path.is_file() and not path.is_symlink():
            try:
                png = path.read_bytes()
            except OSError:
                return None
            if valid_png(png):
                return png
            log.warning("figure cache entry %s is damaged; drawing it again", path)
        return None

    def get(self, key: str) -> bytes:
        """The PNG bytes of figure ``key``, waiting for (or drawing) it if needed. Thread-safe."""
        with self._lock:
            if key in self._done:
                return self._done[key]
            future = self._pending.get(key)
        try:
            png = future.result() if future is not None else draw(self._jobs[key], self.font_path)
        except Exception as exc:  # a drawing bug: say which figure, keep the cause for --debug
            raise RenderError(f"the {self._jobs[key][0]} figure could not be drawn: {type(exc).__name__}: {exc}",
                              fix="render with --jobs 1 to see the error in this process, and report it as a bug"
                              ) from exc
        with self._lock:
            if key not in self._done:
                self._done[key] = png
                self.drawn += 1
                self._write_cache(key, png)
            return self._done[key]

    def _write_cache(self, key: str, png: bytes) -> None:
        from ..store import atomic_write_bytes

        if self.cache is None:
            return
        try:
            atomic_write_bytes(self.cache / f"{key}.png", png)
        except OSError as exc:  # a read-only run folder still renders, just without a cache
            log.debug("cannot cache figure %s (%s)", key, exc)

    def all(self) -> dict[str, bytes]:
        """Every figure, ``{key: png}`` (waits for the ones still being drawn)."""
        return {key: self.get(key) for key in self._jobs}

    def pngs(self) -> list[bytes]:
        """PNG bytes per job, in the order the jobs were given."""
        done = self.all()
        return [done[k] for k in self.keys]

    def prune(self) -> None:
        """Delete cached figures this set does not use (call it when every language was rendered)."""
        if self.cache is not None and self.cache.is_dir() and not self.cache.is_symlink():
            for old in self.cache.glob("*.png"):
                if old.stem not in self._jobs:
                    old.unlink(missing_ok=True)
