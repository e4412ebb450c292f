"""Figures of training: per-epoch curves (small multiples), strategies overlaid per backbone, learning rates.

Drawing time is spent per axes (tick labels, text layout with a 65,000-glyph CJK font), so the report
uses **small multiples** — one figure per (dataset, strategy) with a column per backbone, shared axes
and one legend — instead of one figure per run: the same panels, half the text to lay out, a quarter
of the figures. Every function takes the numbers it draws (lists from the typed store records), never
a path.
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from .style import BACKBONE_MARKERS, _clean, _grid, _png, _style, _top_legend, _width


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
    fig, axes = _grid(len(rows), n, w, h, sharex="col", sharey="row", top=0.82 if narrow else 0.62, hspace=0.3)
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
        axes[0][col].set_title(title if len(metrics) == 1 else f"{title} ({_metric(labels, s['metric'])})")
        axes[-1][col].set_xlabel(labels["epoch"])
    axes[0][0].set_ylabel(labels["loss"])
    axes[1][0].set_ylabel(labels["accuracy"])
    if len(rows) == 3:
        axes[2][0].set_ylabel(_metric(labels, series[0]["metric"]) if len(metrics) == 1 else labels["val_metric"])
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
    fig, axes = _grid(2, n, w, h, sharex="col", sharey="row", top=0.82 if narrow else 0.62, hspace=0.3)
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
    axes[1][0].set_ylabel(_metric(labels, next(iter(metrics))) if len(metrics) == 1 else labels["val_metric"])
    handles = dict(legend)
    for hd, name in zip(*axes[0][0].get_legend_handles_labels(), strict=False):
        handles.setdefault(name, hd)  # the warm-up boundary
    _top_legend(fig, list(handles.values()), list(handles), h, ncols=2 if narrow else 5)
    return _png(fig)


def log_ticks(lo: float, hi: float, *, at_least: int = 4) -> list[float]:
    """Tick values for a log axis from ``lo`` to ``hi``: decades, then 1-2-5, then every 1–9 step, until
    ``at_least`` of them fall inside — a cosine schedule from 1e-3 to 2e-5 spans one decade tick only, and an
    axis labelled "0.001" alone tells the reader nothing about the rates below it."""
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


def _metric(labels: dict[str, str], key: str) -> str:
    """A metric key of epochs.csv ("val_auc") as the axis reads it ("validation AUC"); the key when unworded."""
    return labels.get(f"metric.{key}", key)
