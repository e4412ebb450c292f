"""Turn a results store into report HTML (self-contained) and, optionally, PDF via WeasyPrint.

``--lang both`` writes **two complete documents**, one per language (``report.html`` in the first
language, ``report.<lang>.html`` for the other, each linking to the other), not one interleaved
document: a grader reads and grades one language; each document keeps its own table/figure numbers,
table of contents and page numbers; figure labels are in that document's language; and each
language can be gold-tested and printed on its own. Interleaving would double every paragraph and
table a reader has to skip.
"""

from __future__ import annotations

import html as html_lib
import logging
import re
import sys
import tempfile
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import jinja2

from ..describe.gate import gate
from ..describe.persist import analysis_paths, ensure_description
from ..errors import RenderError, StoreError
from ..i18n import LANGS
from ..store import atomic_write_bytes, atomic_write_text, load_run, safepath
from ..store.schema import RunRecord
from .context import Link, ReportContext, build_context
from .drafts import author_warnings, write_drafts
from .figures import FigureSet, css_width, data_uri, default_workers, worker_pool
from .fonts import find_cjk_font, font_data_uri, subset_font
from .premise import warnings as premise_warnings
from .source import Source, reconcile
from .tempdirs import render_tempdir

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
ENTRY = "report.html"
FIGURES = "figures"  # <run>/figures: drawn figures cached by a hash of their inputs
LANG_NAMES = {"zh-TW": "繁體中文", "en": "English"}
_DATA_URI = re.compile(r"data:[a-z/+]+;base64,[A-Za-z0-9+/=]+")


# --------------------------------------------------------------------------- templates
def make_environment(template_dir: str | Path | None = None) -> jinja2.Environment:
    """Jinja environment: a course's folder (if any) shadows the templates shipped in the package."""
    search = [str(TEMPLATES)]
    if template_dir is not None:
        tdir = Path(template_dir)
        if not tdir.is_dir():
            raise RenderError("template folder not found", file=tdir, expected="a folder of Jinja templates",
                              fix="pass --template DIR pointing to a folder like templates/example-course")
        search.insert(0, str(tdir))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(search), autoescape=jinja2.select_autoescape(["html", "htm", "xml", "css"],
                                                                                    default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _template_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost template file and line of a runtime error (Jinja rewrites tracebacks to them)."""
    found: tuple[str | None, int | None] = (None, None)
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        name = frame.f_code.co_filename
        if name.endswith((".html", ".css", ".htm", ".j2", ".jinja")):
            found = (name, lineno)
    return found


def precompile(env: jinja2.Environment) -> None:
    """Compile every template now, so a syntax error stops the render before any figure is drawn."""
    for name in env.list_templates(extensions=["html", "css"]):
        try:
            _guard(lambda name=name: env.get_template(name))
        except UnicodeDecodeError as exc:
            source = next((Path(d) / name for d in env.loader.searchpath  # type: ignore[union-attr]
                           if (Path(d) / name).is_file()), name)
            raise RenderError(f"template is not UTF-8 text (byte {exc.start})", file=source,
                              expected="a UTF-8 encoded Jinja template", fix="re-save the template as UTF-8") from None


def render_template(env: jinja2.Environment, ctx: ReportContext) -> str:
    """Render the entry template; any template problem becomes a RenderError naming file and line."""
    return _guard(lambda: env.get_template(ENTRY).render(ctx=ctx))


def _guard(action):
    try:
        return action()
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"template syntax error: {exc.message}", file=f"{exc.filename or exc.name}:{exc.lineno}",
                          fix="fix the template at that line (Jinja syntax)") from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template not found: {exc.name}", file=ENTRY,
                          fix="an override folder must use the same file names as reportgen/report/templates") from None
    except Exception as exc:
        filename, lineno = _template_frame(exc)
        if filename is None:
            raise
        raise RenderError(f"template error: {type(exc).__name__}: {exc}", file=f"{filename}:{lineno}",
                          fix="check the names used at that line against reportgen/report/model.py") from None


# --------------------------------------------------------------------------- outputs
def _languages(lang: str | None, run: RunRecord) -> list[str]:
    lang = lang or (run.experiment.get("report") or {}).get("language") or "both"
    if lang == "both":
        return list(LANGS)
    if lang not in LANGS:
        raise RenderError(f"unknown language {lang!r}", expected="zh-TW, en or both", fix="--lang zh-TW")
    return [lang]


def _html_paths(run_dir: Path, out: str | Path | None, langs: list[str]) -> dict[str, Path]:
    """The first language gets report.html (or ``out``); others get report.<lang>.html beside it."""
    if out is None:
        primary = run_dir / "report.html"
    else:
        primary = Path(out)
        if (primary.is_dir() and not primary.is_symlink()) or primary.suffix.lower() not in (".html", ".htm"):
            primary = primary / "report.html"
    return {lg: primary if i == 0 else primary.with_name(f"{primary.stem}.{lg}{primary.suffix}")
            for i, lg in enumerate(langs)}


def _check_outputs(run_dir: Path, paths: dict[str, Path], pdf: bool, docx: bool = False) -> None:
    """Every file render will write: no link in the store, no link as --out, a writable folder."""
    for html in paths.values():
        suffixes = [".html"] + [".pdf"] * pdf + [".docx"] * docx
        for target in (html if sfx == ".html" else html.with_suffix(sfx) for sfx in suffixes):
            if target.absolute().is_relative_to(run_dir.absolute()):
                safepath.check_inside(run_dir.absolute(), target.absolute())
            safepath.check_output(target)


def _write(target: Path, data: bytes | str) -> None:
    """An atomic write whose failure (read-only folder, full disk) is a message naming the file."""
    try:
        if isinstance(data, str):
            atomic_write_text(target, data)
        else:
            atomic_write_bytes(target, data)
    except StoreError:  # the store's write error already names the file, its size and the free space
        raise
    except OSError as exc:
        raise RenderError(f"cannot write the report ({exc.strerror or exc})", file=target,
                          expected="a writable folder", fix="check its permissions and free space, or pass --out"
                          ) from None


def scrub_data_uris(text: str) -> str:
    return _DATA_URI.sub("data:", text)


def _visible_text(html: str) -> str:
    """Every character a PDF may need a glyph for (tags, CSS and figure payloads included is harmless)."""
    return html_lib.unescape(scrub_data_uris(html))


FIGURE_SCHEME = "reportgen-figure:"  # image URLs of the PDF's HTML; the fetcher hands over the PNG


def _fetcher(figures):
    """A WeasyPrint URL fetcher that answers ``reportgen-figure:<key>`` with the figure's PNG.

    ``figures`` is anything with ``.get(key) -> png``: a :class:`FigureSet` (waits for a figure still
    being drawn) or a ``{key: png}`` dict. ``fail_on_errors``: a figure that cannot be drawn stops the PDF instead of leaving a hole.
    """
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class FigureFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith(FIGURE_SCHEME):
                key = url[len(FIGURE_SCHEME):]
                return URLFetcherResponse(url, figures.get(key), {"Content-Type": "image/png"})
            return super().fetch(url, headers)

    return FigureFetcher(fail_on_errors=True)


def pdf_bytes(html: str, base_url: str, figures) -> bytes:
    """The PDF of one HTML document whose figures are ``reportgen-figure:`` URLs."""
    import weasyprint

    # full_fonts: the CJK font handed over is already subset to this document's characters;
    # letting WeasyPrint subset it again with fontTools would cost seconds per PDF.
    return weasyprint.HTML(string=html, base_url=base_url, url_fetcher=_fetcher(figures)).write_pdf(full_fonts=True)


def _pdf_or_error(make, target: Path) -> bytes:
    try:
        return make()
    except (RenderError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # WeasyPrint's FatalURLFetchingError is a BaseException
        cause = exc.__cause__ or exc  # it wraps the figure's own error
        if isinstance(cause, RenderError):
            raise cause from None
        raise RenderError(f"PDF rendering failed: {type(cause).__name__}: {cause}", file=target,
                          fix="render without --pdf to check the HTML, or report this as a bug") from exc


def render_report(run_dir: str | Path, *args, **kwargs) -> dict[str, Path]:
    """:func:`_render_report` with every temp file (fonts, WeasyPrint's) under ``<run>/.render-tmp``,
    removed at exit and, after a kill, on the next render (``tempdirs.py``)."""
    if not (Path(run_dir) / "run.json").is_file():
        return _render_report(run_dir, *args, **kwargs)  # no store: its own error message
    with render_tempdir(Path(run_dir)):
        return _render_report(run_dir, *args, **kwargs)


def _render_report(run_dir: str | Path, *, lang: str | None = "both", pdf: bool = False,
                  template_dir: str | Path | None = None, out: str | Path | None = None,
                  jobs: int | None = None, config: str | Path | None = None,
                  messages: list[str] | None = None, docx: bool = False,
                  detail: str | None = None) -> dict[str, Path]:
    """Render the report of one run.

    Args:
        run_dir: the run folder (holding run.json).
        lang: "zh-TW", "en", "both", or None for run.json's ``report.language``.
        pdf: also write PDFs next to the HTML files.
        template_dir: a folder whose templates shadow the packaged ones.
        out: the HTML path (or folder) for the first language; default ``<run>/report.html``.
        jobs: worker processes for figures and PDFs; None: one per CPU (1: everything in this process).
        config: the experiment TOML whose report-only keys (title, notes, tasks, reasons, language) replace
            the store's copy (report_source); None: the store's copy, with a warning when the TOML recorded
            in run.json differs in them.
        messages: if given, the lines the author should read before hand-in are appended to it (unanswered
            tasks, missing reasons, unfinished runs, a TOML that needs `run`, drafts written).
        docx: also write editable Word documents (``report.docx``, ``report.<lang>.docx``) next to the HTML.
        detail: "full" or "brief" (logs and per-layer tables left out); None: run.json's ``report.detail``.

    Returns:
        ``{"html:<lang>": path, "pdf:<lang>": path, ...}`` plus ``comparisons`` / ``findings`` and
        ``draft:<task id>:<lang>`` for each draft answer written.

    Raises:
        StoreError: no results store, or no finished cell.
        RenderError: template or font problems.

    Where the time goes, and why the order below: figures (matplotlib) and PDF layout (WeasyPrint)
    are nearly all of it. Figures are handed to worker processes first; the first language's PDF is
    laid out here meanwhile, its image fetches waiting for each figure in turn; every other
    language's PDF goes to a worker as soon as the figures are done.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    if not run.cells:
        raise StoreError("no finished cell in this run (no cells/*/result.json)", file=run_dir,
                         fix="run `reportgen run` until at least one cell finishes")
    safepath.check_store(run_dir)  # render writes figures/, analysis/ and reports: never through a link
    source = reconcile(Source(run_dir=run_dir, toml=Path(config) if config is not None else None), run)
    langs = _languages(lang, run.run)
    env = make_environment(template_dir)
    precompile(env)
    if out is not None and Path(out).is_symlink():  # a linked --out folder or file: never write through it
        safepath.check_output(out)
    paths = _html_paths(run_dir, out, langs)
    _check_outputs(run_dir, paths, pdf, docx)
    try:
        # Written by `run`; recomputed here only when missing, stale or damaged (derived data is never trusted).
        description = ensure_description(run)
    except OSError as exc:
        raise RenderError(f"cannot write the analysis files ({exc.strerror or exc})",
                          file=exc.filename or run_dir / "analysis", expected="a writable results store",
                          fix="make the run folder writable (render writes analysis/ and figures/ there)") from None
    # Nothing is written (report, figures) unless every stored number agrees with its predictions.
    gate(run, description)
    font = find_cjk_font()

    contexts = [build_context(run, description, lg, stale=len(source.training_keys), detail=detail) for lg in langs]
    # What the author should see before handing in, on the terminal (never as instructions in the report).
    notes = source.warnings + author_warnings(run.experiment, contexts[0].unanswered, run.missing,
                                              checklist_open=contexts[0].checklist_open)
    notes += premise_warnings(list(description.claims))  # a task whose premise the run contradicts
    blocks = [fig for ctx in contexts for fig in ctx.figures]
    for ctx in contexts:
        ctx.other_languages = [Link(href=paths[lg].name, text=LANG_NAMES[lg]) for lg in langs if lg != ctx.lang]
    analysis = analysis_paths(run_dir)
    written: dict[str, Path] = {"comparisons": analysis["comparisons"], "findings": analysis["findings"]}
    pool = worker_pool(jobs if jobs is not None else default_workers())
    try:
        figures = FigureSet([f.job for f in blocks], str(font.path), cache_dir=run_dir / FIGURES)
        for fig, key in zip(blocks, figures.keys, strict=False):
            fig.uri = FIGURE_SCHEME + key
        pages = {ctx.lang: render_template(env, ctx) for ctx in contexts}
        with tempfile.TemporaryDirectory(prefix="reportgen-font-") as tmp:
            text = "".join(_visible_text(p) for p in pages.values()) + "0123456789 /.–—•→×"
            if pool is not None:  # the font first (the PDF needs it first), then the figures
                font_job = pool.submit(subset_font, font, text, Path(tmp) / "cjk")
                figures.start(pool)
                if pdf:
                    import weasyprint  # noqa: F401  (a second of imports, while the workers start)
                ctx_font = font_job.result()
            else:
                ctx_font = subset_font(font, text, Path(tmp) / "cjk")
            pdfs: dict[str, Future | bytes] = {}
            if pdf:
                pdf_pages = {}
                for ctx in contexts:
                    ctx.font_face_url = ctx_font.as_uri()
                    pdf_pages[ctx.lang] = render_template(env, ctx)
                on_worker = langs[1:] if pool is not None else []  # the first language is laid out here
                if on_worker:  # each other language goes to a worker once every figure exists
                    helper = ThreadPoolExecutor(max_workers=1)
                    for lg in on_worker:
                        pdfs[lg] = helper.submit(lambda lg=lg: pool.submit(pdf_bytes, pdf_pages[lg], str(run_dir),
                                                                             figures.all()).result())
                    helper.shutdown(wait=False)
                for lg in (lg for lg in langs if lg not in on_worker):
                    pdfs[lg] = _pdf_or_error(lambda lg=lg: pdf_bytes(pdf_pages[lg], str(run_dir), figures),
                                             paths[lg].with_suffix(".pdf"))
            # The HTML is self-contained: figures and the (subset) font inline as data URIs; a browser
            # without a CJK system font would otherwise draw the zh-TW text as tofu boxes.
            for fig, png in zip(blocks, figures.pngs(), strict=False):
                fig.uri, fig.width = data_uri(png), css_width(png)
            if docx:
                _write_docx(contexts, blocks, figures.pngs(), paths, font.family, written)
            embedded = font_data_uri(ctx_font)
            for ctx in contexts:
                ctx.font_face_url = embedded
                _write(paths[ctx.lang], render_template(env, ctx))
                written[f"html:{ctx.lang}"] = paths[ctx.lang]
                log.info("wrote %s", paths[ctx.lang])
            for lg in langs if pdf else []:
                target = paths[lg].with_suffix(".pdf")
                data = pdfs[lg]
                if isinstance(data, Future):
                    data = _pdf_or_error(data.result, target)
                _write(target, data)
                written[f"pdf:{lg}"] = target
                log.info("wrote %s", target)
        drafts, kept = write_drafts(contexts, paths[langs[0]], run_dir)
        for target in drafts:
            written[f"draft:{target.name}"] = target
        notes += [f"kept {p}: edited since reportgen wrote it (not overwritten)" for p in kept]
        if set(langs) == set(LANGS):
            figures.prune()
        log.debug("figures: %d, drawn %d", len(set(figures.keys)), figures.drawn)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if messages is not None:
        messages.extend(notes)
    else:  # a caller that does not print them (the API, `run`'s render) still gets them on the log
        for line in notes:
            log.warning("%s", line)
    if "torch" in sys.modules:  # render must stay torch-free (fast, and runs where torch is not installed)
        log.debug("torch was imported by someone else in this process")
    return written


def _write_docx(contexts, blocks, pngs, paths: dict[str, Path], family: str, written: dict[str, Path]) -> None:
    """One .docx per language from the same view models and drawn figures as the HTML (docx_writer)."""
    from .docx_writer import docx_bytes

    by_block = {id(fig): png for fig, png in zip(blocks, pngs, strict=False)}
    for ctx in contexts:
        target = paths[ctx.lang].with_suffix(".docx")
        _write(target, docx_bytes(ctx, {f.anchor: by_block[id(f)] for f in ctx.figures}, family))
        written[f"docx:{ctx.lang}"] = target
        log.info("wrote %s", target)
