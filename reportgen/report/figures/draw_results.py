"""Figures of results: confusion matrices, ROC curves (binary and one-vs-rest), headline bars, cost scatter.

Every function takes the numbers it draws: counts and shares from ``metrics.json``, and for ROC the
stored test labels and probabilities as arrays (the section hands them over from the loaded run; a
figure worker opens no store file).
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.ticker import EngFormatter, MaxNLocator, NullFormatter

from ...describe.metrics import roc_curve_points
from .style import BACKBONE_MARKERS, _grid, _png, _style, _top_legend


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
    of their FPRs (scikit-learn's construction). Legend numbers are the stored AUCs passed in; ``labels`` and
    ``probs`` are the cell's stored test labels and probabilities (arrays)."""
    y, probs = panel["labels"], panel["probs"]
    curves = []
    for k, name in enumerate(panel["classes"]):
        try:
            fpr, tpr, _ = roc_curve_points((y == k).astype(int), probs[:, k])
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
    ``ovr``): a panel per strategy, a one-vs-rest curve per class plus the macro average. AUC in the legend.
    Each curve is drawn from the stored test labels and probabilities its cell or panel carries."""
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
            try:
                fpr, tpr, _ = roc_curve_points(c["labels"], c["probs"][:, 1])
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


def cost(points: list[dict], backbones: list[str], labels: dict, log_trainable: bool = True) -> bytes:
    """Macro-F1 against trainable parameters and against wall time: what each score cost. ``log_trainable``: the
    parameter axis log-scaled, as the caption says (the ``caption:cost_scale`` claim decides both)."""
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
        if key == "trainable" and log_trainable:  # parameters span orders of magnitude (frozen head vs network)
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

