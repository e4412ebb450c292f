"""`inspect`: a backbone's parameters, MACs and the ImageNet accuracy of its weights."""

from __future__ import annotations

import click

from .group import cli


@cli.command()
@click.argument("backbone", required=False)
@click.option("--size", default=224, show_default=True, type=click.IntRange(min=8, max=2048),
              help="Input size in pixels (8 to 2048).")
@click.option("--list", "list_all", is_flag=True, help="List every backbone name reportgen accepts.")
def inspect(backbone: str | None, size: int, list_all: bool) -> None:
    """Architecture stats of one backbone: params, MACs, ImageNet accuracy of its weights."""
    from ..models.backbones import check_backbone_name, known_backbones

    if list_all or not backbone:
        click.echo("\n".join(known_backbones()))
        return
    check_backbone_name(backbone, key="BACKBONE")
    from ..models.backbones import check_input_size, family
    from ..models.inspect import format_inspect, inspect_table

    problem = check_input_size(backbone, size)
    if problem:
        from ..errors import ConfigError

        expected, fix = _size_hint(backbone)
        raise ConfigError(f"{backbone} cannot take {size}×{size} inputs ({problem})", key="--size",
                          expected=expected, fix=fix)
    if family(backbone) == "baseline":  # no torchvision entry and no ImageNet metadata: stats of the model
        from ..models import baselines
        from ..models.stats import arch_stats

        stats = arch_stats(baselines.BUILDERS[backbone](input_size=size), input_size=size, weights=None)
        click.echo(format_inspect({"backbone": backbone, **stats}))
        return
    click.echo(format_inspect(inspect_table(backbone, size=size)))


def _size_hint(backbone: str) -> tuple[str, str]:
    """What --size a backbone accepts: a lower bound, or the fixed sizes it was built for (ViT: 224 only)."""
    from ..models.backbones import check_input_size, smallest_input_size

    smallest = smallest_input_size(backbone)
    if smallest is not None:
        return f"--size ≥ {smallest} for {backbone}", f"run `reportgen inspect {backbone} --size {smallest}`"
    fixed = [s for s in (224, 256, 299, 384, 512, 518) if check_input_size(backbone, s) is None]
    if fixed:
        sizes = " or ".join(str(s) for s in fixed)
        return (f"exactly {sizes} ({backbone} is built for a fixed input size)",
                f"run `reportgen inspect {backbone} --size {fixed[0]}`")
    return "an input size this backbone accepts", "see the backbone's torchvision documentation"
