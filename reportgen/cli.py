"""`reportgen`: a thin Click CLI. Validation lives in the library; this file only parses and prints.

Every user error is a ReportgenError: printed as one message (no traceback), exit code 2.
Heavy imports (torch) happen inside the commands that need them, so `--help` and `render` stay fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from .errors import EXIT_BAD_INPUT, ReportgenError


class Group(click.Group):
    """Turns ReportgenError into a clean message + exit 2; suggests a command on a typo."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReportgenError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        # Last line of defence: the real sites raise ReportgenErrors; a file problem that slipped
        # through still gets one message naming the path instead of a traceback.
        except UnicodeDecodeError as exc:
            logging.getLogger(__name__).debug("unexpected decode error", exc_info=True)
            click.secho(f"error: a file is not UTF-8 text ({exc.reason} at byte {exc.start})\n"
                        "  fix: re-save it as UTF-8 (run with -vv to see which file)", fg="red", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except OSError as exc:
            logging.getLogger(__name__).debug("unexpected OS error", exc_info=True)
            where = exc.filename or "a file"
            click.secho(f"error: {where}: {exc.strerror or exc}\n"
                        "  fix: check that the path exists, is the right kind (file or folder) and is "
                        "readable/writable", fg="red", err=True)
            ctx.exit(EXIT_BAD_INPUT)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and name not in self.commands and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(self.commands), n=1)
            if close:
                ctx.fail(f"no such command {name!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reportgen")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Run a transfer-learning experiment matrix on medical images and turn the results into a
    bilingual (zh-TW / en) HTML + PDF lab report.

    \b
    Typical use:
      reportgen validate experiments/hw4.toml   # check everything, train nothing
      reportgen plan experiments/hw4.toml       # the cells, their size and cost
      reportgen run experiments/hw4.toml        # train (resumable: finished cells are kept)
      reportgen render runs/hw4 --pdf           # report.html + report.pdf
      reportgen export runs/hw4 --tables t      # or --tensorboard DIR, --mlflow [URI]
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


EXPERIMENT = click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))


def _load(path: Path):
    from .config import load_experiment

    return load_experiment(path)


def _print_warnings(warnings: list[dict]) -> None:
    if not warnings:
        return
    from .report.wording import describe

    for f in warnings:
        d = describe(f, "en")
        click.secho(f"  [{f.severity}] {d['title']}: {d['detail']}", fg="yellow", err=True)


@cli.command()
@EXPERIMENT
def validate(experiment: Path) -> None:
    """Check an experiment file and its data, backbones and weights without training anything."""
    from .preflight import preflight

    exp = _load(experiment)
    plan = preflight(exp, check_images=True)
    click.echo(f"ok: {experiment} — {len(plan.cells)} cells "
               f"({len(exp.datasets)} dataset(s) × {len(exp.backbones)} backbone(s) × "
               f"{len(exp.strategies)} strateg{'y' if len(exp.strategies) == 1 else 'ies'} × "
               f"{len(exp.seeds)} seed(s)), results in {exp.run_dir}")
    for s in plan.skipped:
        click.echo(f"  skipped {s.dataset}/{s.backbone}/{s.strategy}/s{s.seed}: {s.reason}")
    _print_warnings(plan.warnings)


@cli.command()
@EXPERIMENT
def plan(experiment: Path) -> None:
    """Show the cells of the matrix: parameters, input size, epochs and an estimated cost."""
    from .planning import plan_rows, plan_table
    from .preflight import preflight

    exp = _load(experiment)
    pf = preflight(exp)
    click.echo(plan_table(plan_rows(exp, pf)))
    for s in pf.skipped:
        click.echo(f"skipped {s.dataset}/{s.backbone}/{s.strategy}/s{s.seed}: {s.reason}")
    _print_warnings(pf.warnings)


def _result_line(r: dict) -> str:
    t = r["test"]

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    resumed = f"  resumed after epoch {r['resumed_from_epoch']}" if r.get("resumed_from_epoch") else ""
    return (f"test acc {f(t['accuracy'])}  macro-F1 {f(t['macro_f1'])}  AUC {f(t['auc'])}  "
            f"best epoch {r['best_epoch']}/{r['epochs_run']}  {r['wall_time_s']:.0f} s{resumed}")


def _on_run_event(kind: str, data: dict) -> None:
    tag = f"[{data['index']}/{data['total']}] " if "index" in data else ""
    slot = f" ({data['slot']})" if data.get("slot") else ""
    if kind == "cell_skipped":
        click.echo(f"{tag}{data['cell_id']}: already finished, kept")
    elif kind == "cell_start":
        click.echo(f"{tag}{data['cell_id']}: training{slot}")
    elif kind == "cell_locked":
        click.echo(f"{tag}{data['cell_id']}: being trained by another process, skipped")
    elif kind == "cell_done":
        click.echo(f"{tag}{data['cell_id']}: {_result_line(data['result'])}")
    elif kind == "cell_failed":
        click.secho(f"{tag}{data['cell_id']}: FAILED: {data['error'].splitlines()[0]}", fg="red", err=True)
    elif kind == "submitted":
        click.echo(f"submitted Slurm job array {data['job_id']} ({data['tasks']} tasks; submitit files in "
                   f"{data['folder']})")


@cli.command()
@EXPERIMENT
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--only", multiple=True, help="Run only cells whose id contains this text (repeatable).")
@click.option("--launcher", type=click.Choice(["inline", "local", "slurm"]), default=None,
              help="inline: one cell after another here (default); local: each cell in its own process, one "
                   "per GPU or --jobs CPU slots; slurm: one job array (submitit). Default: [launcher] kind.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="CPU slots for --launcher local when there is no GPU (torch threads are divided).")
@click.option("--no-wait", is_flag=True, help="--launcher slurm: submit and exit; watch with `reportgen status`.")
@click.option("--no-progress", is_flag=True, help="No progress bars (for logs and CI).")
@click.option("--no-checkpoints", is_flag=True, help="Do not save best.pt per cell.")
@click.option("--render/--no-render", "do_render", default=False, show_default=True,
              help="Render report.html when training finishes.")
@click.option("--tensorboard", "tensorboard_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write TensorBoard scalars to DIR/<cell id> as epochs finish (needs reportgen[tensorboard]; "
                   "inline launcher).")
def run(experiment: Path, device: str, only: tuple[str, ...], launcher: str | None, jobs: int | None,
        no_wait: bool, no_progress: bool, no_checkpoints: bool, do_render: bool, tensorboard_dir: Path | None) -> None:
    """Train every unfinished cell of an experiment into its results store (runs/<name>/).

    Safe to interrupt: rerunning skips finished cells and resumes an interrupted one from its last
    finished epoch. Many processes (or Slurm tasks) can fill one store: each cell has its own lock.
    """
    from .errors import LaunchError
    from .launch import resolve

    exp = _load(experiment)
    settings = resolve(exp, kind=launcher, jobs=jobs)
    only_list = list(only) or None
    if tensorboard_dir is not None and settings["kind"] != "inline":
        raise click.UsageError("--tensorboard watches cells trained in this process: use it with --launcher inline, "
                               "or export afterwards with `reportgen export RUN --tensorboard DIR`")
    if settings["kind"] == "local":
        from .launch.local import run_local

        summary = run_local(exp, jobs=settings["jobs"], device=device, on_event=_on_run_event, only=only_list,
                            save_checkpoints=not no_checkpoints)
    elif settings["kind"] == "slurm":
        from .launch.slurm import run_slurm

        array_id, summary = run_slurm(exp, settings=settings["slurm"], device=device, only=only_list,
                                      no_wait=no_wait, on_event=_on_run_event)
        if summary is None:
            click.echo(f"not waiting: follow it with `reportgen status {exp.run_dir}` (job array {array_id})")
            return
    else:
        from .train.runner import run_experiment

        live = None
        on_event = _on_run_event
        if tensorboard_dir is not None:
            from .export.tensorboard_export import LiveTensorBoard

            live = LiveTensorBoard(tensorboard_dir)

            def on_event(kind: str, data: dict) -> None:
                _on_run_event(kind, data)
                if kind == "cell_done":
                    live.cell_done(exp.run_dir / "cells" / data["cell_id"])
        try:
            summary = run_experiment(exp, device=device, progress=not no_progress and sys.stderr.isatty() or False,
                                     on_event=on_event, only=only_list, save_checkpoints=not no_checkpoints,
                                     on_epoch=live.epoch if live is not None else None)
        finally:
            if live is not None:
                live.close()
                click.echo(f"TensorBoard: tensorboard --logdir {tensorboard_dir}")
    locked = f", {len(summary.skipped_locked)} being trained elsewhere" if summary.skipped_locked else ""
    click.echo(f"done: {len(summary.trained)} trained, {len(summary.skipped_finished)} kept{locked} — "
               f"results in {summary.run_dir}")
    if summary.failed:
        raise LaunchError(f"{len(summary.failed)} cell(s) failed: " + "; ".join(
            f"{cid}: {err.splitlines()[0]}" for cid, err in summary.failed.items()), file=summary.run_dir,
            fix=f"see `reportgen status {summary.run_dir}`, fix the cause and run again (finished cells are kept)")
    if do_render:
        from .report.render import render_report

        out = render_report(summary.run_dir, lang=exp.report["language"], pdf=False)
        for p in out.values():
            click.echo(f"wrote {p}")


@cli.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False, path_type=Path))
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
    from .export.records import read_run

    run = read_run(run_dir)
    if run.missing:
        click.secho(f"note: {len(run.missing)} planned cell(s) are unfinished and not exported", fg="yellow", err=True)
    if tables_dir is not None:
        from .export.formats import export_tables

        for path in export_tables(run, tables_dir, lang=lang):
            click.echo(f"wrote {path}")
    if tensorboard_dir is not None:
        from .export.tensorboard_export import export_tensorboard

        dirs = export_tensorboard(run, tensorboard_dir)
        click.echo(f"TensorBoard: {len(dirs)} run(s) in {tensorboard_dir} — tensorboard --logdir {tensorboard_dir}")
    if mlflow_uri is not None:
        from .export.mlflow_export import default_uri, export_mlflow

        uri = mlflow_uri or default_uri(run.path)
        done = export_mlflow(run, uri)
        created = sum(e.created for e in done)
        click.echo(f"MLflow: experiment {run.name!r} at {uri}: {created} run(s) created, "
                   f"{len(done) - created} updated — mlflow ui --backend-store-uri {uri}")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per cell instead of a table.")
def status(run_dir: Path, as_json: bool) -> None:
    """Every cell of a run: pending, running, done or failed (with its error), host, elapsed, last epoch."""
    from .status import format_status, run_status

    rows = run_status(run_dir)
    if as_json:
        import json

        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        click.echo(format_status(rows))


@cli.command()
@click.argument("backbone", required=False)
@click.option("--size", default=224, show_default=True, type=click.IntRange(min=8, max=2048),
              help="Input size in pixels (8 to 2048).")
@click.option("--list", "list_all", is_flag=True, help="List every backbone name reportgen accepts.")
def inspect(backbone: str | None, size: int, list_all: bool) -> None:
    """Architecture stats of one backbone: params, MACs, ImageNet accuracy of its weights."""
    from .models.backbones import check_backbone_name, known_backbones

    if list_all or not backbone:
        click.echo("\n".join(known_backbones()))
        return
    check_backbone_name(backbone, key="BACKBONE")
    from .models.backbones import check_input_size, family
    from .models.stats import format_inspect, inspect_table

    problem = check_input_size(backbone, size)
    if problem:
        from .errors import ConfigError

        expected, fix = _size_hint(backbone)
        raise ConfigError(f"{backbone} cannot take {size}×{size} inputs ({problem})", key="--size",
                          expected=expected, fix=fix)
    if family(backbone) == "baseline":  # no torchvision entry and no ImageNet metadata: stats of the model
        from .models import baselines
        from .models.stats import arch_stats

        stats = arch_stats(baselines.BUILDERS[backbone](input_size=size), input_size=size, weights=None)
        click.echo(format_inspect({"backbone": backbone, **stats}))
        return
    click.echo(format_inspect(inspect_table(backbone, size=size)))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
def check(run_dir: Path) -> None:
    """Recompute every cell's metrics from its stored predictions and compare with the store (exit 2 on any
    disagreement). `render` runs the same check before writing anything."""
    from .consistency import check_claims, check_run
    from .errors import ConsistencyError
    from .report.analysis import ensure_analysis
    from .store import load_run

    run = load_run(run_dir)
    analysis = ensure_analysis(run)
    bad = check_run(run, analysis["comparisons"])
    false = check_claims(run, analysis["claims"])
    for m in bad:
        click.secho(f"  {m}", fg="red", err=True)
    for f in false:
        click.secho(f"  {f}", fg="red", err=True)
    if bad or false:
        first = bad[0].cell_id if bad else (false[0].claim.cells[0] if false[0].claim.cells else "")
        raise ConsistencyError(f"{len(bad)} stored number(s) disagree with the stored predictions; "
                               f"{len(false)} claim(s) no longer hold on them"
                               + (f" (first: {false[0].claim.id})" if false else ""),
                               file=run_dir / "cells" / first if first else run_dir / "analysis",
                               fix="delete that cell folder and rerun `reportgen run` (finished cells are kept)")
    n = len(analysis["claims"])
    click.echo(f"ok: {len(run.cells)} cell(s) in {run_dir}: every stored metric equals its recomputation "
               f"from the stored predictions; {n} claim{'s' if n != 1 else ''} verified against them")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def bench() -> None:
    """Moved: the speed benchmark lives in the repository (`make bench`)."""
    raise ReportgenError("the benchmark is not part of the installed package any more", key="reportgen bench",
                         fix="from a clone of the repository run `make bench` "
                             "(or `.venv/bin/python -m bench --help` for its options)")


def _size_hint(backbone: str) -> tuple[str, str]:
    """What --size a backbone accepts: a lower bound, or the fixed sizes it was built for (ViT: 224 only)."""
    from .models.backbones import check_input_size, smallest_input_size

    smallest = smallest_input_size(backbone)
    if smallest is not None:
        return f"--size ≥ {smallest} for {backbone}", f"run `reportgen inspect {backbone} --size {smallest}`"
    fixed = [s for s in (224, 256, 299, 384, 512, 518) if check_input_size(backbone, s) is None]
    if fixed:
        sizes = " or ".join(str(s) for s in fixed)
        return (f"exactly {sizes} ({backbone} is built for a fixed input size)",
                f"run `reportgen inspect {backbone} --size {fixed[0]}`")
    return "an input size this backbone accepts", "see the backbone's torchvision documentation"


def _register_optional() -> None:
    """Commands that live with their subsystem (render never imports torch)."""
    try:
        from .report.command import render

        cli.add_command(render)
    except ImportError as exc:  # pragma: no cover - only while the report package is incomplete
        logging.getLogger(__name__).debug("render unavailable: %s", exc)


_register_optional()


def main() -> None:
    cli(prog_name="reportgen")


if __name__ == "__main__":
    main()
