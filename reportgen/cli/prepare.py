"""Before training: `init` (a starter TOML from a data folder), `validate` (everything, train nothing) and
`plan` (the cells and their timed cost)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .common import ALLOW_OUTSIDE, EXPERIMENT, _load, _print_warnings
from .group import cli


@cli.command()
@EXPERIMENT
@ALLOW_OUTSIDE
def validate(experiment: Path, allow_outside_files: bool) -> None:
    """Check an experiment file and its data, backbones and weights without training anything."""
    exp = _load(experiment, allow_outside_files)  # TOML and schema first: errors come before torch is imported
    from ..train.preflight import preflight

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
    from ..init import init_experiment

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
    from ..train.environment import pick_device
    from ..train.plan import TIMED_BATCHES, decode_seconds, plan_rows, plan_table, run_overhead_seconds
    from ..train.preflight import preflight

    startup = time.perf_counter() - t0
    dev = pick_device(device)
    pf = preflight(exp)
    rows = plan_rows(exp, pf, device=dev)
    click.echo(plan_table(rows, decode_s=decode_seconds(exp, pf), run_s=run_overhead_seconds(startup),
                          timed_batches=TIMED_BATCHES.get(dev.type)))
    for s in pf.skipped:
        click.echo(f"skipped {s.dataset}/{s.backbone}/{s.strategy}/s{s.seed}: {s.reason}")
    _print_warnings(pf.warnings)
