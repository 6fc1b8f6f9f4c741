"""What every command shares: the error console and the one-line usage error (exit 2)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

EXIT_USAGE = 2


@cache
def console() -> Console:
    """Messages, progress and summaries go to stderr; data a command prints for other programs goes to stdout.

    Built on first use: commands that print nothing (``--help``, ``stages``) never import rich's console.
    """
    from rich.console import Console

    return Console(stderr=True)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on one line and return the exit to raise (``raise fail(...)``)."""
    console().print(f"[bold red]error:[/] {' '.join(message.split())}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
