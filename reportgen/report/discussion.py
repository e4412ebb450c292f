"""Deterministic discussion sentences generated from the numbers, each citing its table or figure.

Every claim is hedged by the evidence behind it: a difference whose 95 % CI includes zero (or whose
Holm-adjusted p ≥ 0.05) is reported as "not distinguishable on this test set" instead of as a win.
The wording lives in the catalogs (``report.disc.*``); this module only chooses which sentence applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import context as fmt

if TYPE_CHECKING:
    from .context import Builder

ALPHA = 0.05
SMALL_TEST_N = 200


def _best(cells: list) -> Any:
    scored = [c for c in cells if fmt.test_metrics(c).get("macro_f1") is not None]
    return max(scored, key=lambda c: fmt.test_metrics(c)["macro_f1"]) if scored else None


def _significant(part: dict) -> bool:
    ci = part.get("ci") or [None, None]
    p = part.get("p_adjusted", part.get("p_value"))
    excludes_zero = ci[0] is not None and ci[1] is not None and (ci[0] > 0 or ci[1] < 0)
    return excludes_zero and p is not None and p < ALPHA


def _ref(b: Builder, *keys: str) -> str:
    found = [b.refs[k] for k in keys if k in b.refs]
    return ", ".join(found) or "—"


def abstract(b: Builder) -> list[str]:
    """The headline: best cell per dataset with its CI, and how many planned cells finished."""
    out = []
    for ds in b.datasets():
        best = _best(b.cells(dataset=ds))
        if best is None:
            out.append(b.tr("disc.abstract_none", dataset=ds))
            continue
        m = fmt.test_metrics(best)
        out.append(b.tr("disc.abstract_best", dataset=ds, backbone=best.cell["backbone"],
                        strategy=b.strategy_name(best.cell["strategy"]), f1=fmt.pct(m.get("macro_f1")),
                        ci=fmt.pct_ci(fmt.ci_of(m, "macro_f1")), auc=fmt.dec(m.get("auc")), n=fmt.count(m.get("n")),
                        ref=_ref(b, f"pivot:{ds}:macro_f1")))
    out.append(b.tr("disc.abstract_cells", finished=len(b.run.cells), planned=len(b.run.run.get("cells", []))))
    return out


def _strategy_sentences(b: Builder, ds: str) -> list[str]:
    out = []
    seed = b.seeds()[0]
    winners: dict[str, int] = {}
    for bb in b.backbones():
        best = _best(b.cells(dataset=ds, backbone=bb, seed=seed))
        if best is not None:
            winners[best.cell["strategy"]] = winners.get(best.cell["strategy"], 0) + 1
    if winners:
        top = max(winners, key=lambda s: winners[s])
        out.append(b.tr("disc.winner", dataset=ds, strategy=b.strategy_name(top), k=winners[top],
                        n=sum(winners.values()), ref=_ref(b, f"pivot:{ds}:macro_f1", f"headline:{ds}")))
        out.append(b.tr(f"disc.why.{top}") if top in fmt.STRATEGY_ORDER else "")
    for a, base in (("finetune", "frozen"), ("finetune", "scratch"), ("frozen", "scratch"), ("warmup", "scratch")):
        for bb in b.backbones():
            row = b.comparison(dataset=ds, backbone=bb, seed=seed, a=a, b=base)
            part = (row or {}).get("macro_f1") or {}
            if part.get("diff") is None:
                continue
            diff = part["diff"]
            values = {"backbone": bb, "a": b.strategy_name(a), "b": b.strategy_name(base),
                      "diff": fmt.points(abs(diff)).lstrip("+"), "ci": fmt.pct_ci(part.get("ci")).replace("n/a", "—"),
                      "p": fmt.pvalue(part.get("p_adjusted")), "ref": _ref(b, f"pivot:{ds}:macro_f1")}
            if _significant(part):
                out.append(b.tr("disc.diff_sig_up" if diff > 0 else "disc.diff_sig_down", **values))
            else:
                out.append(b.tr("disc.diff_unclear", **values))
    return [s for s in out if s]


def _complexity_sentences(b: Builder, ds: str) -> list[str]:
    per_bb = []
    for bb in b.backbones():
        cells = b.cells(dataset=ds, backbone=bb)
        best = _best(cells)
        if best is None:
            continue
        arch = best.arch or {}
        per_bb.append((bb, fmt.arch_params(arch, "total"), fmt.arch_macs(arch), fmt.test_metrics(best)["macro_f1"]))
    if len(per_bb) < 2 or any(p is None or m is None for _, p, m, _ in per_bb):
        return [b.tr("disc.complexity_single")] if per_bb else []
    big = max(per_bb, key=lambda x: x[2])
    small = min(per_bb, key=lambda x: x[2])
    if big[0] == small[0]:
        return []
    diff = big[3] - small[3]
    key = "disc.complexity_pays" if diff > 0.01 else "disc.complexity_no_gain"
    return [b.tr(key, big=big[0], small=small[0], macs_ratio=f"{big[2] / small[2]:.1f}",
                 params_ratio=f"{big[1] / small[1]:.1f}", diff=fmt.points(diff),
                 ref=_ref(b, "arch", "cost", "cost_scatter"))]


def _hard_to_raise(b: Builder, ds: str) -> list[str]:
    out = []
    facts = b.run.datasets.get(ds) or {}
    test = (facts.get("splits") or {}).get("test") or {}
    counts, n = test.get("counts") or [], test.get("n")
    if counts and n:
        share = max(counts) / n
        cls = (facts.get("classes") or [""] * len(counts))[counts.index(max(counts))]
        out.append(b.tr("disc.imbalance", dataset=ds, cls=cls, share=fmt.pct(share), ref=_ref(b, f"splits:{ds}")))
    val = (facts.get("splits") or {}).get("val") or {}
    if val.get("n"):
        out.append(b.tr("disc.small_val", n=fmt.count(val["n"]), step=fmt.pct(1 / val["n"], 2),
                        ref=_ref(b, f"splits:{ds}")))
    best = _best(b.cells(dataset=ds))
    if best is not None:
        m = fmt.test_metrics(best)
        ci = fmt.ci_of(m, "macro_f1")
        if ci and ci[0] is not None and ci[1] is not None:
            key = "disc.ci_width_small_n" if (m.get("n") or 0) < SMALL_TEST_N else "disc.ci_width"
            out.append(b.tr(key, width=fmt.pct(ci[1] - ci[0]), n=fmt.count(m.get("n"))))
    out.append(b.tr("disc.domain_gap"))
    high = [f for f in b.analysis.get("findings") or [] if f.get("severity") == "high"]
    if high:
        out.append(b.tr("disc.findings_high", n=len(high), ref=b.tr("section.findings")))
    return out


def discussion_paragraphs(b: Builder) -> list[str]:
    """Three paragraphs per dataset: best strategy and why, complexity vs benefit, why test is hard."""
    out = []
    for ds in b.datasets():
        if not b.cells(dataset=ds):
            out.append(b.tr("disc.abstract_none", dataset=ds))
            continue
        for part in (_strategy_sentences(b, ds), _complexity_sentences(b, ds), _hard_to_raise(b, ds)):
            if part:
                out.append(" ".join(part))
    return out


def limitations(b: Builder) -> list[str]:
    """What the design of this run cannot show."""
    out = []
    seeds = b.seeds()
    out.append(b.tr("lim.one_seed") if len(seeds) < 2 else b.tr("lim.seeds", n=len(seeds)))
    ns = [fmt.test_metrics(c).get("n") for c in b.run.cells if fmt.test_metrics(c).get("n")]
    if ns:
        out.append(b.tr("lim.test_n", n=fmt.count(min(ns))))
    epochs = sorted({(c.result or {}).get("epochs_run") for c in b.run.cells} - {None})
    if epochs:
        out.append(b.tr("lim.epochs", epochs=", ".join(str(e) for e in epochs)))
    sizes = sorted({c.cell.get("input_size") for c in b.run.cells} - {None})
    if sizes:
        out.append(b.tr("lim.input_size", sizes=", ".join(str(s) for s in sizes)))
    if b.run.missing:
        out.append(b.tr("lim.missing", n=len(b.run.missing)))
    if len(b.datasets()) < 2:
        out.append(b.tr("lim.one_dataset"))
    out.append(b.tr("lim.threshold"))
    return out
