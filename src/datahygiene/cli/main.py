"""The ``datahygiene`` command: assembles one typer app from the command modules of this package."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from datahygiene.cli.calibrate import calibrate
from datahygiene.cli.common import console
from datahygiene.cli.datasheet import datasheet
from datahygiene.cli.dedup import dedup_distributed_command
from datahygiene.cli.demo import make_demo_command
from datahygiene.cli.inspect import inspect_command, verify_command
from datahygiene.cli.run import run_command
from datahygiene.cli.trace import trace_command

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Make training datasets safe to train on.")

app.command("run")(run_command)
app.command("inspect")(inspect_command)
app.command("verify")(verify_command)
app.command("trace")(trace_command)
app.command("datasheet")(datasheet)
app.command("calibrate")(calibrate)
app.command("dedup-distributed")(dedup_distributed_command)
app.command("make-demo")(make_demo_command)


@app.command("stages")
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
