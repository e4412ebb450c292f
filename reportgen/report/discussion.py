"""The abstract and the discussion, worded from the run's typed claims (:mod:`reportgen.describe.claims`).

This module decides nothing about the data: each sentence is one claim, whose outcome (``better`` /
``no_difference`` / ``vs_collapsed``, ``below_chance`` …) was chosen by the facts and is verified against
the stored predictions before render writes anything. Here a claim becomes words: the catalog key is
``claims.<kind>.<outcome>``, the values are formatted with the tables' own formatters (so a gap reads as
the table reads it) and tables are cited by their builder refs. Counts agree in number (``.one`` /
``.other`` keys); zh-TW sentences follow one spacing rule (:func:`zh_spacing`).
"""

from __future__ import annotations

from typing import Any

from ..describe.claims import Claim
from ..i18n import t, zh_spacing  # noqa: F401  (re-exported for the sections)
from ..store import CellResult
from . import format as fmt
from .builder import Builder

IMAGENET_TRAIN_SIZE = 224  # torchvision's classification weights are trained at 224 px crops (or larger)
ABSTRACT_KINDS = ("headline", "cells_finished", "collapsed_count")



def ct(bld: Builder, key: str, /, **values: Any) -> str:
    return t(bld.lang, f"claims.{key}", **values)  # zh-TW spacing is applied by t()


def plural(b: Builder, key: str, n: int, /, **values: Any) -> str:
    return ct(b, f"{key}.{'one' if n == 1 else 'other'}", n=n, **values)


def cell_name(b: Builder, backbone: str, strategy: str, seed: int | None = None) -> str:
    if seed is not None and len(b.seeds()) > 1:
        return ct(b, "cell_seed", backbone=b.bb_label(backbone), strategy=b.strategy_name(strategy), seed=seed)
    return ct(b, "cell", backbone=b.bb_label(backbone), strategy=b.strategy_name(strategy))


def _ci(ci: Any) -> str:
    return fmt.pct_ci(ci).replace("n/a", "—")


def _auc_ci(ci: Any) -> str:
    lo, hi = (ci or [None, None])[:2]
    return "—" if lo is None or hi is None else f"{fmt.dec(lo)}–{fmt.dec(hi)}"


def _pts(x: float | None) -> str:
    """A difference of two percentages as the tables show them: the difference of the rounded values."""
    return "—" if x is None else f"{abs(x):.1f}"


def word(b: Builder, c: Claim) -> str:
    """One claim in the report's language ("" for a claim that is kept only to be verified)."""
    v = c.values
    if c.kind == "headline":
        if c.outcome in ("none", "all_collapsed"):
            return ct(b, f"headline.{c.outcome}", dataset=b.ds_label(v["dataset"]))
        common = dict(dataset=b.ds_label(v["dataset"]), backbone=b.bb_label(v["backbone"]),
                      strategy=b.strategy_name(v["strategy"]), val_f1=fmt.pct(v["val_f1"]), f1=fmt.pct(v["f1"]),
                      ref=refs(b, c.refs), n=fmt.count(v["n"]))
        if v["n_seeds"] == 1:
            text = ct(b, "headline.single", ci=_ci(v.get("ci")), **common)
        else:
            text = ct(b, "headline.seeds", n_seeds=v["n_seeds"], sd=fmt.pct(v.get("sd")), **common)
        if v.get("tied"):
            others = b.join(cell_name(b, x["backbone"], x["strategy"]) for x in v["tied"])
            text += _sep(b) + ct(b, "headline.tie", others=others)
        return text
    if c.kind == "scores":
        name = cell_name(b, v["backbone"], v["strategy"], v.get("seed"))
        ref = refs(b, c.refs)
        if c.outcome == "degenerate":
            if not v["spread"]:  # "span only 0" says less than "the same for every image"
                return ct(b, "scores.identical", cell=name)
            return ct(b, "scores.degenerate", cell=name, spread=f"{v['spread']:.2g}")
        if c.outcome == "below_chance":
            return ct(b, "scores.below_chance", cell=name, auc=fmt.dec(v["auc"]))
        if c.outcome == "chance":
            return ct(b, "scores.chance", cell=name, auc=fmt.dec(v["auc"]), ci=_auc_ci(v.get("auc_ci")), ref=ref)
        if c.outcome == "ranks":
            key = "scores.ranks_collapsed" if c.params.get("collapsed") else "scores.ranks"
            return ct(b, key, cell=name, auc=fmt.dec(v["auc"]), ref=ref)
        return ""
    if c.kind == "cells_finished":
        return ct(b, f"cells_finished.{'one' if v['planned'] == 1 else 'other'}", **v)
    if c.kind in ("collapsed_count", "findings_high"):
        return plural(b, c.kind, v["n"], ref=b.tr("section.findings"))
    if c.kind == "winner":
        tied = v["strategy"] == "tied"  # outcome "tied:k/n": k backbones with a shared highest estimate
        key = ("winner.tied_" if tied else "winner.") + ("all" if v["k"] == v["n"] else "some")
        if tied:
            return ct(b, key, dataset=b.ds_label(v["dataset"]), k=v["k"], n=v["n"], ref=refs(b, c.refs))
        return ct(b, key, dataset=b.ds_label(v["dataset"]), strategy=b.strategy_name(v["strategy"]), k=v["k"],
                  n=v["n"], ref=refs(b, c.refs))
    if c.kind == "pair":
        return _pair(b, c)
    if c.kind == "budget":
        parts = []
        for k in ("epochs", "lr", "augment"):
            a, bb = v["a"][k], v["b"][k]
            if a != bb:
                word_of = (lambda x: _augment_words(b, x)) if k == "augment" else fmt.plain
                parts.append(ct(b, f"budget.{k}", a=word_of(a), b=word_of(bb)))
        # After "no detectable difference" there is no difference to attribute: say the comparison is confounded.
        key = "budget.differs_null" if c.params.get("after") == "no_difference" else "budget.differs"
        return ct(b, key, what=ct(b, "list_sep").join(parts))
    if c.kind == "backbones":
        return ct(b, "backbones.one")
    if c.kind == "imbalance":
        return ct(b, "imbalance.imbalanced", cls=v["class"], share=fmt.pct(v["share"]),
                  dataset=b.ds_label(v["dataset"]), ref=refs(b, c.refs))
    if c.kind == "small_val":
        return ct(b, "small_val.small", n=fmt.count(v["n"]), step=fmt.pct(v["step"], 2), ref=refs(b, c.refs))
    if c.kind == "ci_width":
        if v.get("lo") is None or v.get("hi") is None:
            return ""
        return ct(b, f"ci_width.{c.outcome}", width=fmt.pct(v["hi"] - v["lo"]), n=fmt.count(v["n"]))
    if c.kind == "val_test_gap":
        gap = fmt.table_diff(v["val"], v["test"])
        return ct(b, f"val_test_gap.{c.outcome}", val=fmt.pct(v["val"]), test=fmt.pct(v["test"]), gap=_pts(gap),
                  ci=_ci(v.get("ci")), ref=refs(b, c.refs))
    raise KeyError(f"no wording for claim kind {c.kind!r}")


def _seed(b: Builder, v: dict) -> str:
    """" (seed 0)" after the subject when the run has several seeds: a pair compares two cells of one seed."""
    return ct(b, "seed_suffix", seed=v["seed"]) if len(b.seeds()) > 1 and v.get("seed") is not None else ""


def _pair(b: Builder, c: Claim) -> str:
    v = c.values
    kind = v["kind"]
    if kind == "strategy":
        names = (b.strategy_name(v["strategy_a"]), b.strategy_name(v["strategy_b"]))
        who = ct(b, "pair.who.strategy", backbone=b.bb_label(v["backbone_a"]) + _seed(b, v))
    elif kind == "backbone":
        names = (b.bb_label(v["backbone_a"]), b.bb_label(v["backbone_b"]))
        who = ct(b, "pair.who.backbone", strategy=b.strategy_name(v["strategy_a"]) + _seed(b, v))
    else:
        names = (cell_name(b, v["backbone_a"], v["strategy_a"]), cell_name(b, v["backbone_b"], v["strategy_b"]))
        who = ct(b, "pair.who.best", seed=_seed(b, v))
    ref = refs(b, c.refs)
    if c.outcome == "vs_collapsed":
        dead = names[0] if v.get("collapsed_a") else names[1]
        return ct(b, "pair.vs_collapsed", who=who, a=names[0], b=names[1], collapsed=dead, ref=ref)
    if c.outcome == "untested":
        return ""
    va, vb, ci = v["value_a"], v["value_b"], v.get("ci") or [None, None]
    a, bn = names
    if c.outcome == "worse":  # say it the way round that reads: the better one first, a positive difference
        a, bn, va, vb = bn, a, vb, va
        ci = [None if ci[1] is None else -ci[1], None if ci[0] is None else -ci[0]]
    key = "pair.no_difference" if c.outcome == "no_difference" else "pair.better"
    diff = fmt.table_diff(va, vb)
    diff_text = _pts(diff) if key == "pair.better" else ("—" if diff is None else fmt.signed_points(diff))
    return ct(b, key, who=who, a=a, b=bn, va=fmt.pct(va), vb=fmt.pct(vb), diff=diff_text,
              ci=fmt.points_ci(ci).replace("n/a", "—"),
              p=fmt.pvalue(v.get("p")), ref=ref)


def _claims(b: Builder) -> list[Claim]:
    return list(b.description.claims)


def _scores_context(claims: list[Claim]) -> list[Claim]:
    """A claim worded by the pair before it: a scores claim after a vs-collapsed pair speaks about a collapsed
    cell. (A budget caveat carries its pair's outcome itself: describe stamps ``params["after"]``.)"""
    out = []
    for c in claims:
        if c.kind == "scores" and out and out[-1].kind == "pair" and out[-1].outcome == "vs_collapsed":
            c = Claim(**{**c.__dict__, "params": {**c.params, "collapsed": True}})
        out.append(c)
    return out


def _dataset_of(b: Builder, c: Claim) -> str | None:
    if "dataset" in c.values:
        return str(c.values["dataset"])
    if "dataset" in c.params:
        return str(c.params["dataset"])
    for cid in c.cells:
        found = next((x for x in b.run.cells if x.id == cid), None)
        if found is not None:
            return found.cell.dataset
    return None


def abstract(b: Builder) -> list[str]:
    """The headline per dataset (the configuration chosen on validation), runs finished, runs collapsed."""
    out = []
    claims = _claims(b)
    for i, c in enumerate(claims):
        if c.kind in ABSTRACT_KINDS:
            out.append(word(b, c))
            # The chosen cell's AUC sentence follows its headline (degenerate or below chance said as such).
            nxt = claims[i + 1] if i + 1 < len(claims) else None
            if c.kind == "headline" and nxt is not None and nxt.kind == "scores":
                out.append(word(b, nxt))
    return [s for s in _unique(out) if s]


def discussion_paragraphs(b: Builder) -> list[str]:
    """Per dataset: which strategy led and every pairwise comparison; then why the test score is hard to raise."""
    claims = _scores_context(_claims(b))
    out = []
    for ds in b.datasets():
        mine = [c for c in claims if _dataset_of(b, c) == ds and c.kind not in ABSTRACT_KINDS]
        if not b.cells(dataset=ds):
            out.append(ct(b, "headline.none", dataset=b.ds_label(ds)))
            continue
        comparisons = [word(b, c) for c in mine if c.kind in ("winner", "pair", "budget", "backbones")
                       or (c.kind == "scores" and "collapsed" in c.params)]
        hard = [word(b, c) for c in mine if c.kind in ("imbalance", "small_val", "ci_width", "val_test_gap")]
        for part in (comparisons, hard):
            text = [s for s in _unique(part) if s]
            if text:
                out.append(_sep(b).join(text))
    high = [word(b, c) for c in claims if c.kind == "findings_high"]
    if high:
        out.append(_sep(b).join(high))
    return _unique(out)


def _augment_words(b: Builder, value: Any) -> str:
    """An augment setting in prose: no raw "none" or a Python list inside a sentence (zh-TW above all)."""
    text = str(value).strip()
    if text.lower() in ("none", "", "[]"):
        return ct(b, "augment.none")
    if text.startswith("["):
        return ct(b, "augment.custom")
    return ct(b, "augment.preset", name=text)


def _sep(b: Builder) -> str:
    """Sentences run on with a space in English, with none after full-width punctuation in zh-TW."""
    return "" if b.lang.startswith("zh") else " "


def refs(b: Builder, keys: tuple[str, ...]) -> str:
    """The labels of the tables/figures a claim cites, joined as a list of the report's language."""
    return b.cite(keys)


def _unique(items: list[str]) -> list[str]:
    """No sentence or paragraph twice (two claims that word the same are one statement)."""
    return list(dict.fromkeys(items))


def limitations(b: Builder) -> list[str]:
    """What the design of this run cannot show."""
    out = []
    seeds = b.seeds()
    out.append(plural(b, "lim.seeds", len(seeds)))
    ns = [c.test.n for c in b.run.cells]
    if ns:
        out.append(b.tr("lim.test_n", n=fmt.count(min(ns))))
    epochs = sorted({c.result.epochs_run for c in b.run.cells})
    if epochs:
        if len(epochs) > 1:  # "3, 30 epochs" reads as a list of runs: say it varied, and between what
            out.append(ct(b, "lim.epochs.range", lo=epochs[0], hi=epochs[-1]))
        else:
            out.append(ct(b, f"lim.epochs.{'one' if epochs == [1] else 'other'}", epochs=epochs[0]))
    # The input-size caveat only for pretrained cells whose input is smaller than the weights' training size.
    shrunk = [c for c in b.run.cells if c.cell.strategy != "scratch" and c.cell.input_size < _train_size(c)]
    if shrunk:  # each backbone with its own weights' size (EfficientNet-B2's are 288 px, not 224)
        sizes = {c.cell.backbone: _train_size(c) for c in shrunk}
        weights = b.join(b.labelled(b.bb_label(bb), f"{px} px") for bb, px in sizes.items())
        out.append(b.tr("lim.input_size", sizes=b.join(sorted({c.cell.input_size for c in shrunk})), weights=weights))
    subsampled = [d for d in b.datasets() if (f := b.facts(d)) is not None and f.train_subsampled]
    for d in subsampled:
        sub = b.facts(d).train_subsampled  # type: ignore[union-attr]
        out.append(b.tr("lim.subsampled", dataset=b.ds_label(d), to_n=fmt.count(sub.to_n),
                        from_n=fmt.count(sub.from_n)))
    if b.run.missing:
        out.append(plural(b, "lim.missing", len(b.run.missing)))
    if len(b.datasets()) < 2:
        out.append(b.tr("lim.one_dataset"))
    out.append(b.tr("lim.threshold"))
    return out


def _train_size(c: CellResult) -> int:
    crop = (c.arch.imagenet or {}).get("crop_size")
    return int(crop) if crop else IMAGENET_TRAIN_SIZE
