"""Report figures drawn with matplotlib (Agg) as inline PNG data URIs.

One style for every figure: the Okabe–Ito colour-blind-safe palette with a fixed colour *and* line
style per strategy (legible in greyscale print), the CJK font registered so zh-TW labels have real
glyphs, ~110 dpi PNGs (sharp in print at the sizes used, cheap to draw and to embed). Figures are
built with ``matplotlib.figure.Figure`` directly (no pyplot state) and drawn in a small process pool
when there are many, because figure drawing dominates render time.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

log = logging.getLogger(__name__)

DPI = 110
STRATEGY_STYLE = {  # Okabe–Ito; the same colour for a strategy in every figure
    "finetune": {"color": "#0072B2", "ls": "-", "marker": "o"},
    "frozen": {"color": "#E69F00", "ls": "--", "marker": "s"},
    "warmup": {"color": "#009E73", "ls": "-.", "marker": "^"},
    "scratch": {"color": "#D55E00", "ls": ":", "marker": "D"},
}
BACKBONE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_FONT_STATE: dict[str, str] = {}
PARALLEL_MIN_JOBS = 12  # below this, starting worker processes costs more than it saves


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
        "axes.unicode_minus": False,
    })
    _FONT_STATE.update(path=path, family=family)
    return family


def _new(w: float, h: float, ncols: int = 1) -> tuple[Figure, Any]:
    # Fixed margins instead of constrained layout, and few ticks: layout passes and tick labels are
    # most of the drawing time, and a report has dozens of figures.
    fig = Figure(figsize=(w, h), dpi=DPI)
    fig.subplots_adjust(left=0.09 if ncols > 1 else 0.16, right=0.98, bottom=0.2, top=0.88, wspace=0.28)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    return fig, axes


def _uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(strategy: str) -> dict:
    return STRATEGY_STYLE.get(strategy, {"color": "#555555", "ls": "-", "marker": "o"})


def _clean(xs: list, ys: list) -> tuple[list, list]:
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


# --------------------------------------------------------------------------- figure kinds
def curves(series: dict, labels: dict) -> str:
    """Loss and selection metric per epoch, train vs val, best epoch marked."""
    fig, (ax1, ax2) = _new(6.4, 2.3, 2)
    color = _style(series["strategy"])["color"]
    ep = series["epoch"]
    for ax, key, title in ((ax1, "loss", labels["loss"]), (ax2, "metric", series["metric"])):
        for split, ls in (("train", "-"), ("val", "--")):
            x, y = _clean(ep, series[f"{split}_{key}"])
            if x:
                ax.plot(x, y, ls=ls, color=color if split == "val" else "#444444", marker=".", lw=1.4,
                        label=labels[split])
        if series.get("best_epoch"):
            ax.axvline(series["best_epoch"], color="#777777", lw=0.9, ls=":", label=labels["best_epoch"])
        ax.set_xlabel(labels["epoch"])
        ax.set_title(title)
    ax1.legend(loc="upper right")
    return _uri(fig)


def overlay(series: list[dict], labels: dict) -> str:
    """One backbone, every strategy: validation loss and selection metric per epoch."""
    fig, (ax1, ax2) = _new(6.4, 2.4, 2)
    for s in series:
        st = _style(s["strategy"])
        name = labels.get(f"strategy.{s['strategy']}", s["strategy"])
        for ax, key in ((ax1, "val_loss"), (ax2, "val_metric")):
            x, y = _clean(s["epoch"], s[key])
            if x:
                ax.plot(x, y, color=st["color"], ls=st["ls"], marker=st["marker"], ms=3, lw=1.4, label=name)
    ax1.set_title(f"{labels['val']} {labels['loss']}")
    ax2.set_title(f"{labels['val']} {series[0]['metric'] if series else ''}")
    for ax in (ax1, ax2):
        ax.set_xlabel(labels["epoch"])
    ax2.legend(loc="upper right")
    return _uri(fig)


def confusion(panels: list[dict], classes: list[str], labels: dict) -> str:
    """Confusion matrices side by side: colour = row-normalized share, text = count and percent."""
    n = max(len(panels), 1)
    k = max(len(classes), 1)
    side = 1.5 + 0.45 * k
    fig, axes = _new(min(side * n + 0.3, 7.2), side + 0.35, n)
    for ax, p in zip(axes, panels):
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
    # Room for the class names on the first panel only (fixed margins, no layout pass).
    label_in = 0.45 + 0.075 * max((len(c) for c in classes), default=4)
    fig.subplots_adjust(left=min(0.45, label_in / fig.get_figwidth()), wspace=0.15, bottom=0.22)
    return _uri(fig)


def roc(cells: list[dict], labels: dict) -> str:
    """ROC curves of every strategy of one backbone on the test split."""
    from ..metrics import roc_curve_points
    from ..store import read_predictions

    fig, (ax,) = _new(3.6, 3.2)
    ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls=":", label=labels["chance"])
    for c in cells:
        y, probs = read_predictions(Path(c["path"]) / "predictions_test.csv")
        try:
            fpr, tpr, _ = roc_curve_points(y, probs[:, 1])
        except (ValueError, IndexError):
            continue
        st = _style(c["strategy"])
        ax.plot(fpr, tpr, color=st["color"], ls=st["ls"], lw=1.5,
                label=f"{labels.get('strategy.' + c['strategy'], c['strategy'])} ({labels['auc']} {c['auc_text']})")
    ax.set_xlabel(labels["fpr"])
    ax.set_ylabel(labels["tpr"])
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return _uri(fig)


def headline(backbones: list[str], strategies: list[str], values: dict, labels: dict) -> str:
    """Macro-F1 and AUC per backbone × strategy, with 95 % CI bars."""
    fig, axes = _new(6.4, 2.6, 2)
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
    axes[0].legend(loc="lower left", ncols=2)
    return _uri(fig)


def cost(points: list[dict], backbones: list[str], labels: dict) -> str:
    """Macro-F1 against trainable parameters and against wall time: what each score cost."""
    fig, axes = _new(6.4, 2.6, 2)
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
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlabel(title)
        ax.set_ylabel(labels["macro_f1"] if ax is axes[0] else "")
    handles = [axes[1].scatter([], [], color=_style(s)["color"], marker="o", s=30,
                               label=labels.get(f"strategy.{s}", s))
               for s in dict.fromkeys(p["strategy"] for p in points)]
    handles += [axes[1].scatter([], [], color="white", edgecolors="black", marker=BACKBONE_MARKERS[i % 8], s=30,
                                label=bb) for i, bb in enumerate(backbones)]
    fig.subplots_adjust(right=0.74)
    fig.legend(handles=handles, loc="center right", fontsize=6.5, frameon=False)
    return _uri(fig)


KINDS = {"curves": curves, "overlay": overlay, "confusion": confusion, "roc": roc, "headline": headline,
         "cost": cost}


def draw(job: tuple[str, dict], font_path: str) -> str:
    """Draw one figure job ``(kind, kwargs)`` and return its data URI."""
    setup_fonts(font_path)
    kind, kwargs = job
    return KINDS[kind](**kwargs)


def _draw_star(args: tuple[tuple[str, dict], str]) -> str:
    return draw(*args)


def draw_all(jobs: list[tuple[str, dict]], font_path: str, *, workers: int | None = None) -> list[str]:
    """Draw every job, in a process pool when there are enough of them to pay for it."""
    if workers is None:
        workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 4)
    if workers < 2 or len(jobs) < PARALLEL_MIN_JOBS:
        return [draw(j, font_path) for j in jobs]
    try:
        import multiprocessing

        ctx = multiprocessing.get_context("fork") if hasattr(os, "fork") else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            return list(pool.map(_draw_star, [(j, font_path) for j in jobs], chunksize=max(1, len(jobs) // (4 * workers))))
    except (OSError, RuntimeError) as exc:  # no fork / no semaphores (some sandboxes): draw serially
        log.warning("parallel figure drawing failed (%s); drawing serially", exc)
        return [draw(j, font_path) for j in jobs]
