"""`run`: train every unfinished cell, inline, in local processes or as a Slurm array, and say what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import ALLOW_OUTSIDE, EXPERIMENT, _load
from .group import cli


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
    from ..launch import resolve

    exp = _load(experiment, allow_outside_files)
    from ..launch import signals

    signals.stop_run_on_signals(exp.run_dir)  # SIGTERM/SIGHUP stop a run like Ctrl-C; Group prints what was kept
    settings = resolve(exp, kind=launcher, jobs=jobs)
    from ..train.progress import RunWatch

    watch = RunWatch(exp, announce=_on_run_event)
    try:
        _run(exp, settings, watch, device=device, only=only, no_wait=no_wait, no_progress=no_progress,
             no_checkpoints=no_checkpoints, do_render=do_render, tensorboard_dir=tensorboard_dir)
    except KeyboardInterrupt:
        # Ctrl-C: say where training stopped and what the store keeps (read from it), not "Aborted!".
        click.secho(watch.interrupted(), fg="yellow", err=True)
        click.get_current_context().exit(130)


def _run(exp: Any, settings: Any, watch: Any, *, device: str, only: tuple[str, ...], no_wait: bool,
         no_progress: bool, no_checkpoints: bool, do_render: bool, tensorboard_dir: Path | None) -> None:
    from ..errors import LaunchError

    only_list = list(only) or None
    if tensorboard_dir is not None and settings.kind != "inline":
        raise click.UsageError("--tensorboard watches cells trained in this process: use it with --launcher inline, "
                               "or export afterwards with `reportgen export RUN --tensorboard DIR`")
    if settings.kind == "local":
        from ..launch.local import run_local

        summary = run_local(exp, jobs=settings.jobs, device=device, on_event=watch.on_event, only=only_list,
                            save_checkpoints=not no_checkpoints)
    elif settings.kind == "slurm":
        from ..launch.slurm import run_slurm

        array_id, summary = run_slurm(exp, settings=settings.slurm, device=device, only=only_list,
                                      no_wait=no_wait, on_event=_on_run_event)
        if summary is None:
            click.echo(f"not waiting: follow it with `reportgen status {exp.run_dir}` (job array {array_id})")
            return
    else:
        from ..train.progress import bars_fit
        from ..train.runner import run_experiment

        live = None
        on_event = watch.on_event
        watch.bars = not no_progress and bars_fit()
        if tensorboard_dir is not None:
            from ..export.tensorboard_export import LiveTensorBoard

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
    from ..describe.persist import describe_after_run

    describe_after_run(summary.run_dir)  # comparisons, seeds, findings, claims: computed once, render reads them
    if summary.failed:
        raise LaunchError(f"{len(summary.failed)} cell(s) failed: " + "; ".join(
            f"{cid}: {err.splitlines()[0]}" for cid, err in summary.failed.items()), file=summary.run_dir,
            fix=f"see `reportgen status {summary.run_dir}`, fix the cause and run again (finished cells are kept)")
    if do_render:
        from ..report.render import render_report

        out = render_report(summary.run_dir, lang=exp.report["language"], pdf=False)
        for p in out.values():
            click.echo(f"wrote {p}")
