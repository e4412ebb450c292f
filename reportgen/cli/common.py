"""What several commands share: the EXPERIMENT and RUN|EXPERIMENT.toml arguments, loading a TOML with the
files it pulls in from elsewhere named, and printing preflight warnings."""

from __future__ import annotations

from pathlib import Path

import click

EXPERIMENT = click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))


ALLOW_OUTSIDE = click.option(
    "--allow-outside-files", is_flag=True,
    help="Let the experiment file pull in answer/notes files from outside its own folder (each is named here).")


def _load(path: Path, allow_outside_files: bool = False):
    from ..config import load_experiment
    from ..config.named_files import allow_outside

    with allow_outside(allow_outside_files) as read:
        exp = load_experiment(path)
    for p in read:  # the trust model: whoever runs the command sees every file read from elsewhere
        click.secho(f"note: read {p}, outside {path.parent.resolve()} (--allow-outside-files)", fg="yellow",
                    err=True)
    return exp


def _print_warnings(warnings: list[dict]) -> None:
    if not warnings:
        return
    from ..report.wording import describe

    for f in warnings:
        d = describe(f, "en")
        click.secho(f"  [{f.severity}] {d['title']}: {d['detail']}", fg="yellow", err=True)


RUN_OR_TOML = click.argument("run_dir", metavar="RUN|EXPERIMENT.toml", type=click.Path(path_type=Path))


def _run_folder(path: Path) -> Path:
    """RUN or EXPERIMENT.toml → the run folder (a TOML names its results folder; report_source.locate)."""
    from ..report.source import locate

    return locate(path).run_dir
