"""The ``datahygiene`` command: assembles one typer app from the command modules of this package."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from datahygiene.cli.calibrate import calibrate
from datahygiene.cli.common import console
from datahygiene.cli.datasheet import datasheet
from datahygiene.cli.dedup import run_partitioned_command
from datahygiene.cli.demo import make_demo_command
from datahygiene.cli.inspect import inspect_command, verify_command
from datahygiene.cli.lean import LeanCommand, LeanGroup
from datahygiene.cli.run import run_command
from datahygiene.cli.trace import trace_command

# Plain click help (rich_markup_mode=None): typer's rich help formatter costs about 0.25 s of imports on every
# ``--help``, more than the rest of the CLI's start. Run output (progress, summaries) still uses rich.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Make training datasets safe to train on.",
    cls=LeanGroup,
    rich_markup_mode=None,
)

app.command("run", cls=LeanCommand)(run_command)
app.command("inspect", cls=LeanCommand)(inspect_command)
app.command("verify", cls=LeanCommand)(verify_command)
app.command("trace", cls=LeanCommand)(trace_command)
app.command("datasheet", cls=LeanCommand)(datasheet)
app.command("calibrate", cls=LeanCommand)(calibrate)
app.command("run-partitioned", cls=LeanCommand)(run_partitioned_command)
# the old name: it ran a text/image-only dedup of its own; it is now this command, the flow's partitioned phase
app.command("dedup-distributed", cls=LeanCommand, help="Alias of run-partitioned (its old name).")(
    run_partitioned_command
)
app.command("make-demo", cls=LeanCommand)(make_demo_command)


@app.command("stages", cls=LeanCommand)
def stages_command() -> None:
    """List the registered stage names."""
    from datahygiene.core import registry

    for name in registry.names():
        typer.echo(name)


class _LazyRichHandler(logging.Handler):
    """A logging handler that builds rich's handler on the first record (most commands never log)."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self._inner: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._inner is None:
            from rich.logging import RichHandler

            self._inner = RichHandler(console=console(), show_path=False, show_time=False)
            self._inner.setFormatter(self.formatter)
        self._inner.handle(record)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", handlers=[_LazyRichHandler(level)])
    if version:
        from datahygiene import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        console().print("interrupted; committed shards are kept, rerun with --resume")
        sys.exit(130)
