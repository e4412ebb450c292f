"""The whole report as view models: sections in reading order (numbers formatted, figures as jobs).

Layout of the report package: :mod:`format` (numbers as text), :mod:`model` (the view-model
dataclasses), :mod:`builder` (numbering, lookups into the typed store), ``sections/`` (one module per
group of sections), :mod:`discussion` (sentences from the numbers), :mod:`wording` (findings in words).
"""

from __future__ import annotations

from ..describe.model import Description
from ..i18n import t
from ..store import RunResults
from . import discussion
from .builder import Builder
from .model import BulletList, Cover, Link, Paragraph, ReportContext
from .sections import (
    back,
    checklist,
    comparison,
    errors,
    front,
    percell,
    pipeline,
    results,
    summary,
    tasks,
    training,
)

__all__ = ["Link", "ReportContext", "build_context"]


def build_context(run: RunResults, description: Description, lang: str, *, stale: int = 0,
                  detail: str | None = None) -> ReportContext:
    """The whole report for one language as view models (figures still to be drawn).

    ``stale``: how many results-affecting settings the experiment file given to ``render`` changed since the
    run (report_source); the report then says, at its top, that it shows the runs as trained.

    ``detail``: "brief" leaves out the per-epoch logs and per-layer tables (a sentence says where they
    are); None: run.json's ``report.detail`` (default "full").
    """
    b = Builder(run, description, lang)
    if detail is not None:
        b.detail = detail
    cfg = b.report_cfg
    cover = Cover(title=b.text(cfg.get("title")) or b.tr("ui.default_title"), course=cfg.get("course") or "",
                  author=cfg.get("author") or "", student_id=cfg.get("student_id") or "",
                  date=str(cfg.get("date") or ""),
                  labels={k: b.tr(f"cover.{k}") for k in ("course", "author", "student_id", "date")})
    task_index = tasks.start(b)  # right after the cover and contents: the lab's questions first
    abstract = b.section("abstract")
    if stale:
        abstract.blocks.append(Paragraph(t(lang, "reportsource.stale.one" if stale == 1 else "reportsource.stale.other",
                                           n=stale)))
    front.introduction(b)
    front.model_selection(b)
    front.data(b)
    front.methods(b)
    pipeline.stem(b)
    results.results(b)
    training.training(b)
    comparison.comparison(b)
    errors.errors(b)
    back.findings(b)
    tasks.answers_section(b)
    summary.summary(b)  # every backbone × strategy in one table, as the HW4 reports end, before the discussion
    disc = b.section("discussion")
    disc.blocks.extend(Paragraph(p) for p in discussion.discussion_paragraphs(b))
    b.note(disc, "discussion")
    lim = b.section("limitations")
    lim.blocks.append(BulletList(discussion.limitations(b)))
    b.note(lim, "limitations")
    back.appendix(b)
    percell.appendix(b)  # the per-run tables too long for the body (many seeds), after the provenance
    training.epoch_log_appendix(b)
    # The abstract is written last because it cites tables numbered further down.
    abstract.blocks.extend(Paragraph(p) for p in discussion.abstract(b))
    b.note(abstract, "abstract")
    checklist_open = checklist.checklist(b)  # last: it links to the elements every other section made
    unanswered = tasks.finish(b, task_index)
    b.layout()  # one numbering pass, then every citation resolved to the number of the element it names
    ui = {k: b.tr(f"ui.{k}") for k in ("toc", "page", "source", "source_prefix", "not_run", "language_other",
                                         "generated_by",
                                         "severity")}
    return ReportContext(lang=lang, title=cover.title, cover=cover, ui=ui, sections=b.sections,
                         unanswered=unanswered, checklist_open=checklist_open,
                         drafts={tid: tasks.draft(b, tid) for tid in unanswered})
