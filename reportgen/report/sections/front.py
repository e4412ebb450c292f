"""Introduction, model selection, data, and methods: what was run, on what, and how."""

from __future__ import annotations

from typing import Any

from ...describe.claims_shown import caption_id, outcome_of
from ...i18n import t
from ...store import CellResult
from .. import applicability
from ..builder import Builder, slug
from ..format import NA, count, macs, megabytes, params, pct, plain
from ..model import BulletList, Cell, Heading, Paragraph
from ..prose import semantic_label
from . import data_medimg, data_view, pipeline, selection


def introduction(b: Builder) -> None:
    sec = b.section("introduction")
    planned = len(b.run.run.cells)
    sec.blocks.append(Paragraph(b.tr(
        "intro.matrix", datasets=b.join(b.ds_label(d) for d in b.datasets()),
        backbones=b.join(b.bb_label(x) for x in b.backbones()),
        strategies=b.join(b.strategy_name(s) for s in b.strategies()), seeds=len(b.seeds()),
        planned=planned, finished=len(b.run.cells))))
    applicability.plan_note(b, sec)  # combinations left out by design: here once, with the reason, nowhere else
    sec.blocks.append(Paragraph(b.tr("intro.strategies")))
    if b.run.missing:
        sec.blocks.append(Paragraph(b.tr("intro.missing", n=len(b.run.missing))))
    b.note(sec, "introduction")


def first_cell(b: Builder, backbone: str) -> CellResult | None:
    cells = b.cells(backbone=backbone)
    pretrained = [c for c in cells if c.cell.strategy != "scratch"]
    return (pretrained or cells or [None])[0]


def model_selection(b: Builder) -> None:
    sec = b.section("model_selection")
    selection.candidates_table(b, sec)
    header = [b.tr(f"col.{k}") for k in ("backbone", "weights", "input_size", "params_total", "macs",
                                         "imagenet_acc1", "imagenet_acc5", "file_size")]
    rows = []
    tools = set()
    notes: list[str] = []
    for bb in b.backbones():
        c = first_cell(b, bb)
        if c is None:
            rows.append([b.bb_label(bb)] + [Cell(b.tr("ui.not_run"), cls="na")] * 7)
            continue
        arch, inet = c.arch, c.arch.imagenet or {}
        tools.add(arch.macs_tool or NA)
        acc1, acc5 = inet.get("acc1"), inet.get("acc5")
        # The counted figure (what runs at this input size) with the published one beneath it.
        p_sub = b.tr("model.published", value=params(arch.params_published)) if arch.params_published else ""
        m_sub = (b.tr("model.published_at", value=macs(arch.macs_published), size=arch.published_size)
                 if arch.macs_published else "")
        rows.append([b.bb_label(bb), plain(inet.get("name") or c.cell.weights), plain(c.cell.input_size),
                     Cell(params(arch.params_total), sub=p_sub), Cell(macs(arch.macs), sub=m_sub),
                     NA if acc1 is None else f"{acc1:.1f}", NA if acc5 is None else f"{acc5:.1f}",
                     megabytes(inet.get("file_size_mb"))])
        note = params_note(b, arch)
        if note:
            notes.append(b.labelled(b.bb_label(bb), note))
    beneath = outcome_of(b.description, caption_id("arch_published")) == "beneath"  # published figures shown
    b.table(sec, "arch", t(b.lang, "report.cap.arch" if beneath else "claimcheck.cap.arch_plain",
                           tool=", ".join(sorted(tools)) or "fvcore"), header, rows,
            source="cells/*/arch.json")
    if notes:
        sec.blocks.append(BulletList(notes))
    heads = selection.head_sentences(b, first_cell)
    if heads:
        sec.blocks.append(Paragraph(("" if b.lang.startswith("zh") else " ").join(heads)))
    selection.params_table(b, sec)
    reasons = {x["name"]: b.text(x.get("reason")) for x in b.exp.get("backbones", [])}
    sec.blocks.append(Heading(b.tr("head.reasons"), "sec-model-reasons"))
    sec.blocks.append(BulletList([b.labelled(b.bb_label(bb), reasons.get(bb) or t(b.lang, 'reportsource.no_reason'))
                                  for bb in b.backbones()]))
    b.note(sec, "model_selection")


def data(b: Builder) -> None:
    sec = b.section("data")
    for ds in b.datasets():
        facts = b.facts(ds)
        if facts is None:
            continue
        cell = next(iter(b.cells(dataset=ds)), None)
        if len(b.datasets()) > 1:
            sec.blocks.append(Heading(b.ds_label(ds), f"sec-data-{slug(ds)}"))
        data_view.class_shares(b, sec, ds, facts)  # counts, shares, TVD from train, shift warning
        sec.blocks.append(Paragraph(_split_sentence(b, facts)))
        if facts.train_subsampled:
            sub = facts.train_subsampled
            sec.blocks.append(Paragraph(b.tr("data.subsampled", to_n=count(sub.to_n), from_n=count(sub.from_n),
                                             seed=sub.seed)))
        pipeline.add(b, sec, ds, cell)  # the preprocessing sentence and the exact pipeline table(s)
        data_medimg.add(b, sec, facts)  # intensity policy, patient groups, MedMNIST file (issue 20)
        dups = facts.duplicates or {}
        n_exact, n_near = len(dups.get("exact") or []), len(dups.get("near") or [])
        sec.blocks.append(Paragraph(b.tr("data.duplicates", exact=n_exact, near=n_near,
                                         method=plain(dups.get("method")))))
        data_view.data_views(b, sec, ds)  # sample images per class per split, augmentation preview
    b.note(sec, "data")


def _split_sentence(b: Builder, facts: Any) -> str:
    """How validation was made, as recorded by the loader: official kept, or carved (and why)."""
    vs, carved = facts.val_split, facts.val_carved
    if vs is not None and vs.source == "carved" or vs is None and carved:
        fraction = vs.fraction if vs is not None else carved.get("fraction")
        seed = vs.seed if vs is not None else carved.get("seed")
        official = vs.official_n if vs is not None else carved.get("original_val_n")
        key = "data.carved_from_small" if official else "data.carved"
        return b.tr(key, fraction=pct(fraction, 0), seed=plain(seed), official=count(official),
                    min_val=count(vs.min_val_size if vs is not None else carved.get("min_val_size")))
    if vs is not None and vs.small:
        return b.tr("data.official_small", n=count(vs.n), min_val=count(vs.min_val_size))
    return b.tr("data.not_carved")


SEMANTIC_KEYS = ("init", "backbone_trainable", "backbone_mode", "frozen_epochs")

# Hyperparameters that only mean something for one optimizer, scheduler or strategy.
_ONLY_IF = {
    "momentum": lambda t, s: t.get("optimizer") == "sgd",
    "step_size": lambda t, s: t.get("scheduler") == "step",
    "gamma": lambda t, s: t.get("scheduler") in ("step", "plateau"),
    "patience": lambda t, s: True,
    "warmup_frozen_epochs": lambda t, s: s == "warmup",
    "frozen_feature_cache": lambda t, s: s == "frozen",
    "eval_batch_size": lambda t, s: t.get("eval_batch_size") is not None,
    "label_smoothing": lambda t, s: t.get("loss") == "ce",
}


def used_hyperparameters(c: CellResult) -> dict[str, Any]:
    """The cell's hyperparameters as they were used: inapplicable keys dropped, configured values
    replaced by what the run recorded (batch size after OOM back-off, AMP dtype, channels_last, compile)."""
    t, s, res = c.cell.train.to_dict(), c.cell.strategy, c.result
    out = {k: v for k, v in t.items() if _ONLY_IF.get(k, lambda t, s: True)(t, s)}
    out["batch_size"] = res.batch_size_used
    out["amp"] = res.amp_dtype or "off"
    out["channels_last"] = res.channels_last
    out["compile"] = res.compiled
    return out


def methods(b: Builder) -> None:
    sec = b.section("methods")
    header = [b.tr("col.strategy")] + [b.tr(f"col.sem_{k}") for k in SEMANTIC_KEYS] + [b.tr("col.description")]
    rows = []
    for s in b.strategies():
        cell = next(iter(b.cells(strategy=s)), None)
        if cell is None:
            continue
        sem = cell.cell.strategy_semantics
        values = [semantic_label(b.lang, "init", sem.init), semantic_label(b.lang, "trainable", sem.backbone_trainable),
                  semantic_label(b.lang, "mode", sem.backbone_mode), plain(sem.frozen_epochs)]
        rows.append([b.strategy_name(s)] + values + [b.tr(f"strategy.{s}.desc")])
    b.table(sec, "strategies", b.tr("cap.strategies"), header, rows, source="cells/*/cell.json strategy_semantics",
            numeric_from=99)
    # One row per key; values that differ between cells are listed with the strategies that used them.
    used = [(c, used_hyperparameters(c)) for c in b.run.cells]
    keys: list[str] = []
    for _, h in used:
        keys += [k for k in h if k not in keys]
    hrows = []
    for k in keys:
        by_value: dict[str, list[str]] = {}
        for c, h in used:
            if k not in h:
                continue
            label = b.strategy_name(c.cell.strategy)
            value = pipeline.augment_value(b, h[k]) if k == "augment" else plain(h[k])
            who = by_value.setdefault(value, [])
            if label not in who:
                who.append(label)
        text = (next(iter(by_value)) if len(by_value) == 1
                else b.tr("hyper.value_sep").join(b.tr("hyper.value_for", value=v, who=b.join(who))
                                                  for v, who in by_value.items()))
        hrows.append([k, text])
    b.table(sec, "hyper", b.tr("cap.hyper"), [b.tr("col.setting"), b.tr("col.value")], hrows,
            source="cells/*/cell.json train, cells/*/result.json (values used)", numeric_from=99)
    env = b.run.cells[0].env if b.run.cells else None
    hw = [[b.tr(f"env.{k}"), plain(getattr(env, k) if env else None)]
          for k in ("device", "device_name", "cuda", "python", "torch", "torchvision", "platform")]
    b.table(sec, "hardware", b.tr("cap.hardware"), [b.tr("col.setting"), b.tr("col.value")], hw,
            source="cells/*/env.json", numeric_from=99)
    b.note(sec, "methods")


def params_note(b: Builder, arch: Any) -> str | None:
    """Why the counted parameters differ from torchvision's published count, worded from arch.json's numbers
    (the English ``params_note`` the runner stores is for `reportgen inspect`; the report words its own)."""
    total, published, aux = arch.params_total, arch.params_published, arch.params_aux_dropped
    parts = []
    if aux is not None:
        note = b.tr("model.note.aux")
        if published is not None and aux and total + aux == published:
            note += b.tr("model.note.aux_published", n=f"{aux:,}")
            total += aux
        elif published is not None and total == published:
            note += b.tr("model.note.aux_same")
        parts.append(note)
    if published is not None and total != published:
        n_out = arch.head_out_features
        if n_out and n_out != 1000:
            parts.append(b.tr(f"model.note.head.{'one' if n_out == 1 else 'other'}", n=n_out))
        else:
            parts.append(b.tr("model.note.differs", n=f"{total - published:+,}"))
    return ("；" if b.lang.startswith("zh") else "; ").join(parts) or None
