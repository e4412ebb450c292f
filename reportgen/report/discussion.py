"""Deterministic discussion sentences generated from the numbers, each citing its table or figure.

Every claim is conditional on the facts it states: a difference whose 95 % CI includes zero (or whose
Holm-adjusted p ≥ 0.05) is "not distinguishable on this test set"; a comparison against a collapsed
cell says the cell collapsed instead of claiming a win; "grayscale" only for grayscale data; the
input-size caveat only when the input is smaller than the weights' training size; "only N images"
only below the threshold the validity checks use. Wording lives in the catalogs (``report.disc.*``).
"""

from __future__ import annotations

from typing import Any

from ..checks import VAL_WARN_N
from ..store import CellResult
from . import format as fmt
from .builder import STRATEGY_ORDER, Builder

ALPHA = 0.05
SMALL_TEST_N = 200
IMAGENET_TRAIN_SIZE = 224  # torchvision's classification weights are trained at 224 px crops (or larger)


def _best(b: Builder, cells: list[CellResult]) -> CellResult | None:
    """The highest test macro-F1 among cells that did not collapse."""
    scored = [c for c in cells if not b.is_collapsed(c)]
    return max(scored, key=lambda c: c.test.macro_f1) if scored else None


def _significant(part: dict) -> bool:
    ci = part.get("ci") or [None, None]
    p = part.get("p_adjusted", part.get("p_value"))
    excludes_zero = ci[0] is not None and ci[1] is not None and (ci[0] > 0 or ci[1] < 0)
    return excludes_zero and p is not None and p < ALPHA


def abstract(b: Builder) -> list[str]:
    """The headline: best cell per dataset with its CI, and how many planned cells finished."""
    out = []
    for ds in b.datasets():
        best = _best(b, b.cells(dataset=ds))
        if best is None:
            key = "disc.abstract_all_collapsed" if b.cells(dataset=ds) else "disc.abstract_none"
            out.append(b.tr(key, dataset=b.ds_label(ds)))
            continue
        m = best.test
        out.append(b.tr("disc.abstract_best", dataset=b.ds_label(ds), backbone=b.bb_label(best.cell.backbone),
                        strategy=b.strategy_name(best.cell.strategy), f1=fmt.pct(m.macro_f1),
                        ci=fmt.pct_ci(m.ci_of("macro_f1")), auc=fmt.dec(m.auc), n=fmt.count(m.n),
                        ref=b.ref(f"compare:{ds}")))  # the table holding its macro-F1, CI and AUC
    out.append(b.tr("disc.abstract_cells", finished=len(b.run.cells), planned=len(b.run.run.cells)))
    collapsed = [c for c in b.run.cells if b.is_collapsed(c)]
    if collapsed:
        out.append(b.tr("disc.abstract_collapsed", n=len(collapsed), ref=b.tr("section.findings")))
    return out


def _why(b: Builder, ds: str, strategy: str) -> str:
    if strategy == "finetune":
        facts = b.facts(ds)
        key = "disc.why.finetune_gray" if facts is not None and facts.color == "gray" else "disc.why.finetune"
        return b.tr(key)
    return b.tr(f"disc.why.{strategy}") if strategy in STRATEGY_ORDER else ""


def _strategy_sentences(b: Builder, ds: str) -> list[str]:
    out = []
    seed = b.seeds()[0]
    winners: dict[str, int] = {}
    for bb in b.backbones():
        best = _best(b, b.cells(dataset=ds, backbone=bb, seed=seed))
        if best is not None:
            winners[best.cell.strategy] = winners.get(best.cell.strategy, 0) + 1
    if winners:
        top = max(winners, key=lambda s: winners[s])
        out.append(b.tr("disc.winner", dataset=b.ds_label(ds), strategy=b.strategy_name(top), k=winners[top],
                        n=sum(winners.values()), ref=b.ref(f"pivot:{ds}:macro_f1", f"headline:{ds}")))
        out.append(_why(b, ds, top))
    for a, base in (("finetune", "frozen"), ("finetune", "scratch"), ("frozen", "scratch"), ("warmup", "scratch")):
        for bb in b.backbones():
            row = b.comparison(dataset=ds, backbone=bb, seed=seed, a=a, b=base)
            part = (row or {}).get("macro_f1") or {}
            if part.get("diff") is None:
                continue
            cells = {s: b.cells(dataset=ds, backbone=bb, seed=seed, strategy=s) for s in (a, base)}
            dead = [s for s, found in cells.items() if found and b.is_collapsed(found[0])]
            values: dict[str, Any] = {"backbone": b.bb_label(bb), "a": b.strategy_name(a), "b": b.strategy_name(base),
                                      "diff": fmt.points(abs(part["diff"])).lstrip("+"),
                                      "ci": fmt.pct_ci(part.get("ci")).replace("n/a", "—"),
                                      "p": fmt.pvalue(part.get("p_adjusted")), "ref": b.ref(f"pivot:{ds}:macro_f1")}
            if dead:
                found = cells[dead[0]][0]
                youden = (found.test.binary or {}).get("at_val_youden")
                values.update(collapsed=b.strategy_name(dead[0]), auc=fmt.dec(found.test.auc))
                key = "disc.diff_vs_collapsed"
                if youden is not None:
                    key = "disc.diff_vs_collapsed_youden"
                    values.update(sens=fmt.pct(youden.sensitivity), spec=fmt.pct(youden.specificity),
                                  ref=b.ref(f"pivot:{ds}:macro_f1", f"metrics:{ds}:{dead[0]}"))  # sens/spec: metrics table
                out.append(b.tr(key, **values))
            elif _significant(part):
                out.append(b.tr("disc.diff_sig_up" if part["diff"] > 0 else "disc.diff_sig_down", **values))
            else:
                out.append(b.tr("disc.diff_unclear", **values))
    return [s for s in out if s]


def _complexity_sentences(b: Builder, ds: str) -> list[str]:
    per_bb = []
    for bb in b.backbones():
        best = _best(b, b.cells(dataset=ds, backbone=bb))
        if best is None:
            continue
        per_bb.append((bb, best.arch.params_total, best.arch.macs, best.test.macro_f1))
    if len(per_bb) < 2 or any(p is None or m is None for _, p, m, _ in per_bb):
        return [b.tr("disc.complexity_single")] if len(per_bb) == 1 else []
    big = max(per_bb, key=lambda x: x[2])
    small = min(per_bb, key=lambda x: x[2])
    if big[0] == small[0]:
        return []
    diff = big[3] - small[3]
    key = "disc.complexity_pays" if diff > 0.01 else "disc.complexity_no_gain"
    return [b.tr(key, big=b.bb_label(big[0]), small=b.bb_label(small[0]), macs_ratio=f"{big[2] / small[2]:.1f}",
                 params_ratio=f"{big[1] / small[1]:.1f}", diff=fmt.points(diff),
                 ref=b.ref("arch", "cost", "cost_scatter"))]


def _hard_to_raise(b: Builder, ds: str) -> list[str]:
    out = []
    facts = b.facts(ds)
    if facts is None:
        return out
    test, val = facts.splits.get("test"), facts.splits.get("val")
    if test and test.n:
        share = max(test.counts) / test.n
        cls = facts.classes[test.counts.index(max(test.counts))]
        out.append(b.tr("disc.imbalance", dataset=b.ds_label(ds), cls=cls, share=fmt.pct(share),
                        ref=b.ref(f"splits:{ds}")))
    if val and val.n and val.n < VAL_WARN_N:
        out.append(b.tr("disc.small_val", n=fmt.count(val.n), step=fmt.pct(1 / val.n, 2), ref=b.ref(f"splits:{ds}")))
    best = _best(b, b.cells(dataset=ds))
    if best is not None:
        ci = best.test.ci_of("macro_f1")
        if ci and ci[0] is not None and ci[1] is not None:
            key = "disc.ci_width_small_n" if best.test.n < SMALL_TEST_N else "disc.ci_width"
            out.append(b.tr(key, width=fmt.pct(ci[1] - ci[0]), n=fmt.count(best.test.n)))
    modality = _modality(b, ds)
    if modality:
        out.append(b.tr("disc.domain_gap", modality=modality))
    high = [f for f in b.analysis.get("findings") or [] if f.severity == "high"]
    if high:
        out.append(b.tr("disc.findings_high", n=len(high), ref=b.tr("section.findings")))
    return out


def _modality(b: Builder, ds: str) -> str:
    """The imaging modality, only when the experiment declares it (``modality`` in [[datasets]])."""
    for d in b.exp.get("datasets", []):
        if d.get("name") == ds and d.get("modality"):
            return str(d["modality"])
    return ""


def discussion_paragraphs(b: Builder) -> list[str]:
    """Three paragraphs per dataset: best strategy and why, complexity vs benefit, why test is hard."""
    out = []
    for ds in b.datasets():
        if not b.cells(dataset=ds):
            out.append(b.tr("disc.abstract_none", dataset=b.ds_label(ds)))
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
    ns = [c.test.n for c in b.run.cells]
    if ns:
        out.append(b.tr("lim.test_n", n=fmt.count(min(ns))))
    epochs = sorted({c.result.epochs_run for c in b.run.cells})
    if epochs:
        out.append(b.tr("lim.epochs", epochs=", ".join(str(e) for e in epochs)))
    # The input-size caveat only for pretrained cells whose input is smaller than the weights' training size.
    small = sorted({c.cell.input_size for c in b.run.cells
                    if c.cell.strategy != "scratch" and c.cell.input_size < _train_size(c)})
    if small:
        out.append(b.tr("lim.input_size", sizes=", ".join(str(s) for s in small), train_size=IMAGENET_TRAIN_SIZE))
    subsampled = [d for d in b.datasets() if (f := b.facts(d)) is not None and f.train_subsampled]
    for d in subsampled:
        sub = b.facts(d).train_subsampled  # type: ignore[union-attr]
        out.append(b.tr("lim.subsampled", dataset=b.ds_label(d), to_n=fmt.count(sub.to_n),
                        from_n=fmt.count(sub.from_n)))
    if b.run.missing:
        out.append(b.tr("lim.missing", n=len(b.run.missing)))
    if len(b.datasets()) < 2:
        out.append(b.tr("lim.one_dataset"))
    out.append(b.tr("lim.threshold"))
    return out


def _train_size(c: CellResult) -> int:
    crop = (c.arch.imagenet or {}).get("crop_size")
    return int(crop) if crop else IMAGENET_TRAIN_SIZE
