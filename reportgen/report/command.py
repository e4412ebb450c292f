"""``reportgen render``: the click command (the CLI group adds it with ``cli.add_command(render)``)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..errors import EXIT_BAD_INPUT, ReportgenError


@click.command("render")
@click.argument("run_dir", metavar="[RUN|EXPERIMENT.toml]", required=False, type=click.Path(path_type=Path))
@click.option("--pdf", is_flag=True, help="Also write report.pdf (WeasyPrint).")
@click.option("--lang", type=click.Choice(["zh-TW", "en", "both"]), default=None,
              help="Report language; default: run.json report.language. 'both' writes one document per language.")
@click.option("--template", "template_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of templates that shadow the packaged ones (e.g. templates/example-course).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="HTML file (or folder) for the first language; default <run>/report.html.")
@click.option("--docx", is_flag=True, help="Also write an editable Word document (report.docx, one per language).")
@click.option("--brief", is_flag=True, default=None,
              help="A concise report: every strategy of a dataset in one table and figure; per-epoch logs, "
                   "per-layer tables, per-seed rows, the run list and the TOML left out [default: [report] detail].")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Processes that draw figures and lay out the other language's PDF "
                   "[default: one per CPU, at most 4; 1 = all in this process].")
def render(run_dir: Path | None, pdf: bool, lang: str | None, template_dir: Path | None, out: Path | None,
           jobs: int | None, docx: bool, brief: bool | None) -> None:
    """Render a results store into an HTML/PDF/Word report.

    Give the run folder (default: the run under ./runs that trained last) or the experiment TOML: from a TOML,
    the report's texts (title, notes, task answers, backbone reasons, language) are read from it, so edits
    made after the run appear without training again; settings that change results need `reportgen run`.
    """
    from ..store.runs import default_run_dir
    from .render import render_report
    from .source import locate

    try:
        if run_dir is None:
            run_dir, others = default_run_dir()
            also = f"; also under runs/: {', '.join(p.name for p in others)}" if others else ""
            click.echo(f"rendering {run_dir} (the run trained last{also})")
        source = locate(run_dir)
        messages: list[str] = []
        written = render_report(source.run_dir, lang=lang, pdf=pdf, template_dir=template_dir, out=out,
                                jobs=jobs, config=source.toml, messages=messages,
                                docx=docx, detail="brief" if brief else None)
    except ReportgenError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        # Every store file is checked as it is read; a value of the wrong kind deeper inside one
        # (a hand-edited result.json) still gets one message instead of a traceback.
        logging.getLogger(__name__).debug("render failed", exc_info=True)
        where = run_dir or "the run folder"
        click.echo(f"error: {where}: a file of this results store holds data reportgen cannot use "
                   f"({type(exc).__name__}: {exc})\n  expected: the formats in docs/results-store.md\n"
                   "  fix: restore the edited file, or delete the affected cell folder and rerun `reportgen run` "
                   "(render with -vv shows where it failed)", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    for key, path in written.items():
        if key.startswith(("html:", "pdf:", "docx:")):
            click.echo(f"{key.split(':')[0]} ({key.split(':')[1]}): {path}")
        elif key.startswith("draft:"):
            click.echo(f"draft answer: {path}")
    for line in messages:  # after the paths, so they are the last thing read before hand-in
        click.secho(f"warning: {line}", fg="yellow", err=True)
