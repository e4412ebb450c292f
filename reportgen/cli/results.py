"""After training: `status`, `check` and `export` of a results store (given as a run folder or its TOML)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import RUN_OR_TOML, _run_folder
from .group import cli


@cli.command()
@RUN_OR_TOML
@click.option("--tensorboard", "tensorboard_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write one TensorBoard run per cell into DIR/<cell id> (needs reportgen[tensorboard]).")
@click.option("--mlflow", "mlflow_uri", is_flag=False, flag_value="", default=None, metavar="[URI]",
              help="Log one MLflow run per cell to URI (default sqlite:///RUN/mlflow.db; needs reportgen[mlflow]).")
@click.option("--tables", "tables_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the comparison, metrics and cost tables as CSV, Markdown and LaTeX into DIR.")
@click.option("--lang", type=click.Choice(["en", "zh-TW"]), default="en", show_default=True,
              help="Language of the tables' headers and captions.")
def export(run_dir: Path, tensorboard_dir: Path | None, mlflow_uri: str | None, tables_dir: Path | None,
           lang: str) -> None:
    """Export a results store to TensorBoard, MLflow, and/or paste-ready tables.

    \b
      reportgen export runs/demo --tensorboard tb     # then: tensorboard --logdir tb
      reportgen export runs/demo --mlflow             # runs/demo/mlflow.db
      reportgen export runs/demo --mlflow http://127.0.0.1:5000 --tables tables

    Exporting again replaces a cell's TensorBoard events and updates its MLflow run (never duplicates).
    """
    if tensorboard_dir is None and mlflow_uri is None and tables_dir is None:
        raise click.UsageError("nothing to export: give --tensorboard DIR, --mlflow [URI] and/or --tables DIR")
    from ..export.records import read_run

    run_dir = _run_folder(run_dir)
    run = read_run(run_dir)
    if run.missing:
        click.secho(f"note: {len(run.missing)} planned cell(s) are unfinished and not exported", fg="yellow", err=True)
    if tables_dir is not None:
        from ..export.formats import export_tables

        for path in export_tables(run, tables_dir, lang=lang):
            click.echo(f"wrote {path}")
    if tensorboard_dir is not None:
        from ..export.tensorboard_export import export_tensorboard

        dirs = export_tensorboard(run, tensorboard_dir)
        click.echo(f"TensorBoard: {len(dirs)} run(s) in {tensorboard_dir} — tensorboard --logdir {tensorboard_dir}")
    if mlflow_uri is not None:
        from ..export.mlflow_export import default_uri, export_mlflow

        uri = mlflow_uri or default_uri(run.path)
        done = export_mlflow(run, uri)
        created = sum(e.created for e in done)
        click.echo(f"MLflow: experiment {run.name!r} at {uri}: {created} run(s) created, "
                   f"{len(done) - created} updated — mlflow ui --backend-store-uri {uri}")


@cli.command()
@RUN_OR_TOML
@click.option("--json", "as_json", is_flag=True, help="One JSON object per cell instead of a table.")
def status(run_dir: Path, as_json: bool) -> None:
    """Every cell of a run: pending, running, done or failed (with its error), host, elapsed, last epoch."""
    from ..store.status import format_status, run_status

    rows = run_status(_run_folder(run_dir))
    if as_json:
        import json

        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        click.echo(format_status(rows))


@cli.command()
@RUN_OR_TOML
def check(run_dir: Path) -> None:
    """Recompute every cell's metrics from its stored predictions and compare with the store (exit 2 on any
    disagreement). `render` runs the same check before writing anything."""
    from ..describe.gate import all_claims, disagreements
    from ..describe.persist import ensure_description
    from ..errors import ConsistencyError
    from ..store import load_run

    run_dir = _run_folder(run_dir)
    run = load_run(run_dir)
    description = ensure_description(run)
    bad, false = disagreements(run, description)
    for m in bad:
        click.secho(f"  {m}", fg="red", err=True)
    for f in false:
        click.secho(f"  {f}", fg="red", err=True)
    if bad or false:
        first = bad[0].cell_id if bad else (false[0].claim.cells[0] if false[0].claim.cells else "")
        raise ConsistencyError(f"{len(bad)} stored number{'' if len(bad) == 1 else 's'} "
                               f"disagree{'s' if len(bad) == 1 else ''} with the stored predictions; "
                               f"{len(false)} claim{'' if len(false) == 1 else 's'} no longer "
                               f"hold{'s' if len(false) == 1 else ''} on them"
                               + (f" (first: {false[0].claim.id})" if false else ""),
                               file=run_dir / "cells" / first if first else run_dir / "analysis",
                               fix="delete that cell folder and rerun `reportgen run` (finished cells are kept)")
    n = len(all_claims(run, description))
    cells = f"{len(run.cells)} cell{'' if len(run.cells) == 1 else 's'}"
    click.echo(f"ok: {cells} in {run_dir}: every stored metric equals its recomputation "
               f"from the stored predictions; {n} claim{'s' if n != 1 else ''} verified against them")
