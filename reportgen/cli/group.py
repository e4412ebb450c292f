"""The `reportgen` Click group: one message and exit code 2 for every user error, commands loaded lazily.

Every user error is a ReportgenError: printed as one message (no traceback), exit code 2.
Heavy imports (torch) happen inside the commands that need them, so `--help` and `render` stay fast.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from ..errors import EXIT_BAD_INPUT, ReportgenError


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
            from ..launch.signals import interrupted_note

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


def main() -> None:
    cli(prog_name="reportgen")
