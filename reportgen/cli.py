"""`reportgen`: a thin Click CLI. Validation lives in the library; this file only parses and prints.

Every user error is a ReportgenError: printed as one message (no traceback), exit code 2.
Heavy imports (torch) happen inside the commands that need them, so `--help` and `render` stay fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click

from .errors import EXIT_BAD_INPUT, ReportgenError


class Group(click.Group):
    """Turns ReportgenError into a clean message + exit 2; suggests a command on a typo."""

    # Commands imported only when used: the report package takes ~0.6 s to import, and `validate`
    # must answer in well under a second.
    LAZY = {"render": "reportgen.report.command:render"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            import importlib

            module, attr = self.LAZY[cmd_name].split(":")
            try:
                self.add_command(getattr(importlib.import_module(module), attr))
            except ImportError as exc:  # pragma: no cover - only while the report package is incomplete
                logging.getLogger(__name__).debug("%s unavailable: %s", cmd_name, exc)
                return None
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReportgenError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP during `run`: say what the store kept
            from .launch.signals import interrupted_note

            note = interrupted_note()
            if note is None:
                raise
            click.secho(note, fg="yellow", err=True)
            ctx.exit(130)
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
        if name and name not in self.commands and name not in self.LAZY and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, [*self.commands, *self.LAZY], n=1)
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
      reportgen init data/my_xrays              # look at the data, write a starter TOML
      reportgen validate experiments/hw4.toml   # check everything, train nothing
      reportgen plan experiments/hw4.toml       # the cells, their size and cost
      reportgen run experiments/hw4.toml        # train (resumable: finished cells are kept)
      reportgen render runs/hw4 --pdf           # report.html + report.pdf
      reportgen export runs/hw4 --tables t      # or --tensorboard DIR, --mlflow [URI]
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


EXPERIMENT = click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))


ALLOW_OUTSIDE = click.option(
    "--allow-outside-files", is_flag=True,
    help="Let the experiment file pull in answer/notes files from outside its own folder (each is named here).")


def _load(path: Path, allow_outside_files: bool = False):
    from .config import load_experiment
    from .config.named_files import allow_outside

    with allow_outside(allow_outside_files) as read:
        exp = load_experiment(path)
    for p in read:  # the trust model: whoever runs the command sees every file read from elsewhere
        click.secho(f"note: read {p}, outside {path.parent.resolve()} (--allow-outside-files)", fg="yellow",
                    err=True)
    return exp


def _print_warnings(warnings: list[dict]) -> None:
    if not warnings:
        return
    from .report.wording import describe

    for f in warnings:
        d = describe(f, "en")
        click.secho(f"  [{f.severity}] {d['title']}: {d['detail']}", fg="yellow", err=True)


@cli.command()
@EXPERIMENT
@ALLOW_OUTSIDE
def validate(experiment: Path, allow_outside_files: bool) -> None:
    """Check an experiment file and its data, backbones and weights without training anything."""
    exp = _load(experiment, allow_outside_files)  # TOML and schema first: errors come before torch is imported
    from .train.preflight import preflight

    plan = preflight(exp, check_images=True)
    click.echo(f"ok: {os.path.abspath(experiment)} — {len(plan.cells)} cells "
               f"({len(exp.datasets)} dataset(s) × {len(exp.backbones)} backbone(s) × "
               f"{len(exp.strategies)} strateg{'y' if len(exp.strategies) == 1 else 'ies'} × "
               f"{len(exp.seeds)} seed(s)), results in {exp.run_dir}")
    for s in plan.skipped:
        click.echo(f"  skipped {s.dataset}/{s.backbone}/{s.strategy}/s{s.seed}: {s.reason}")
    _print_warnings(plan.warnings)


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The TOML to write [default: ./<name>.toml]; an existing file is never overwritten.")
@click.option("--name", default=None, help="Experiment and dataset name [default: from the folder or file name].")
@click.option("--epochs", type=click.IntRange(min=1, max=10_000), default=None,
              help="Epochs per cell [default: 10 with a GPU, 3 on a CPU].")
@click.option("--input-size", type=click.IntRange(min=8, max=2048), default=None,
              help="Input size in pixels [default: 224 with a GPU, 64 on a CPU].")
@click.option("--offline", is_flag=True,
              help="Propose only backbones whose weights need no download (EfficientNet-Lite).")
def init(data: Path, output: Path | None, name: str | None, epochs: int | None, input_size: int | None,
         offline: bool) -> None:
    """Look at DATA (a folder of class folders, with or without train/ val/ test/; a CSV list; or an .npz) and
    write a commented starter experiment TOML that validates."""
    from .init import init_experiment

    w = init_experiment(data, out=output, name=name, epochs=epochs, input_size=input_size, offline=offline)
    s = w.survey
    click.echo(f"wrote {w.toml}")
    for p in w.lists:
        click.echo(f"wrote {p}")
    click.echo(f"  {len(s.classes)} classes ({', '.join(s.classes)}), {s.n_images} images, layout: "
               f"{s.layout.replace('_', ' ')}; backbones: {', '.join(b[0] for b in w.machine.backbones)} "
               f"({w.machine.device})")
    click.echo(f"next: reportgen validate {w.toml}  (then plan, run, render)")


@cli.command()
@EXPERIMENT
@ALLOW_OUTSIDE
@click.option("--device", default="auto", show_default=True, help="The device `run` will use: auto, cpu, cuda, cuda:N.")
def plan(experiment: Path, device: str, allow_outside_files: bool) -> None:
    """Show the cells of the matrix: parameters, input size, epochs and a cost timed on this machine
    (a few real batches per backbone, input size and strategy)."""
    import time

    exp = _load(experiment, allow_outside_files)
    t0 = time.perf_counter()  # `run` imports the same: its start-up is part of the estimate
    from .train.plan import TIMED_BATCHES, decode_seconds, plan_rows, plan_table, run_overhead_seconds
    from .train.preflight import preflight
    from .train.runner import pick_device

    startup = time.perf_counter() - t0
    dev = pick_device(device)
    pf = preflight(exp)
    rows = plan_rows(exp, pf, device=dev)
    click.echo(plan_table(rows, decode_s=decode_seconds(exp, pf), run_s=run_overhead_seconds(startup),
                          timed_batches=TIMED_BATCHES.get(dev.type)))
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
@ALLOW_OUTSIDE
def run(experiment: Path, device: str, only: tuple[str, ...], launcher: str | None, jobs: int | None,
        no_wait: bool, no_progress: bool, no_checkpoints: bool, do_render: bool, tensorboard_dir: Path | None,
        allow_outside_files: bool = False) -> None:
    """Train every unfinished cell of an experiment into its results store (runs/<name>/).

    Safe to interrupt: rerunning skips finished cells and resumes an interrupted one from its last
    finished epoch. Many processes (or Slurm tasks) can fill one store: each cell has its own lock.
    """
    from .launch import resolve

    exp = _load(experiment, allow_outside_files)
    from .launch import signals

    signals.stop_run_on_signals(exp.run_dir)  # SIGTERM/SIGHUP stop a run like Ctrl-C; Group prints what was kept
    settings = resolve(exp, kind=launcher, jobs=jobs)
    from .train.progress import RunWatch

    watch = RunWatch(exp, announce=_on_run_event)
    try:
        _run(exp, settings, watch, device=device, only=only, no_wait=no_wait, no_progress=no_progress,
             no_checkpoints=no_checkpoints, do_render=do_render, tensorboard_dir=tensorboard_dir)
    except KeyboardInterrupt:
        # Ctrl-C: say where training stopped and what the store keeps (read from it), not "Aborted!".
        click.secho(watch.interrupted(), fg="yellow", err=True)
        click.get_current_context().exit(130)


def _run(exp: Any, settings: dict, watch: Any, *, device: str, only: tuple[str, ...], no_wait: bool,
         no_progress: bool, no_checkpoints: bool, do_render: bool, tensorboard_dir: Path | None) -> None:
    from .errors import LaunchError

    only_list = list(only) or None
    if tensorboard_dir is not None and settings["kind"] != "inline":
        raise click.UsageError("--tensorboard watches cells trained in this process: use it with --launcher inline, "
                               "or export afterwards with `reportgen export RUN --tensorboard DIR`")
    if settings["kind"] == "local":
        from .launch.local import run_local

        summary = run_local(exp, jobs=settings["jobs"], device=device, on_event=watch.on_event, only=only_list,
                            save_checkpoints=not no_checkpoints)
    elif settings["kind"] == "slurm":
        from .launch.slurm import run_slurm

        array_id, summary = run_slurm(exp, settings=settings["slurm"], device=device, only=only_list,
                                      no_wait=no_wait, on_event=_on_run_event)
        if summary is None:
            click.echo(f"not waiting: follow it with `reportgen status {exp.run_dir}` (job array {array_id})")
            return
    else:
        from .train.progress import bars_fit
        from .train.runner import run_experiment

        live = None
        on_event = watch.on_event
        watch.bars = not no_progress and bars_fit()
        if tensorboard_dir is not None:
            from .export.tensorboard_export import LiveTensorBoard

            live = LiveTensorBoard(tensorboard_dir)

            def on_event(kind: str, data: dict) -> None:
                watch.on_event(kind, data)
                if kind == "cell_done":
                    live.cell_done(exp.run_dir / "cells" / data["cell_id"])

        def on_epoch(cell_id: str, row: dict) -> None:
            watch.on_epoch(cell_id, row)
            if live is not None:
                live.epoch(cell_id, row)
        try:
            summary = run_experiment(exp, device=device, progress=watch.bars, on_event=on_event, only=only_list,
                                     save_checkpoints=not no_checkpoints, on_epoch=on_epoch)
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


def _run_folder(path: Path) -> Path:
    """RUN or EXPERIMENT.toml → the run folder (a TOML names its results folder; report_source.locate)."""
    from .report.source import locate

    return locate(path).run_dir


RUN_OR_TOML = click.argument("run_dir", metavar="RUN|EXPERIMENT.toml", type=click.Path(path_type=Path))


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
    from .export.records import read_run

    run_dir = _run_folder(run_dir)
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
@RUN_OR_TOML
@click.option("--json", "as_json", is_flag=True, help="One JSON object per cell instead of a table.")
def status(run_dir: Path, as_json: bool) -> None:
    """Every cell of a run: pending, running, done or failed (with its error), host, elapsed, last epoch."""
    from .store.status import format_status, run_status

    rows = run_status(_run_folder(run_dir))
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
@RUN_OR_TOML
def check(run_dir: Path) -> None:
    """Recompute every cell's metrics from its stored predictions and compare with the store (exit 2 on any
    disagreement). `render` runs the same check before writing anything."""
    from .describe.consistency import check_claims, check_run
    from .errors import ConsistencyError
    from .report.analysis import ensure_analysis
    from .store import load_run

    run_dir = _run_folder(run_dir)
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


def main() -> None:
    cli(prog_name="reportgen")


if __name__ == "__main__":
    main()
