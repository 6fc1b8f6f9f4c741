"""What every command shares: the error console and the one-line usage error (exit 2)."""

from __future__ import annotations

import typer
from rich.console import Console

#: Messages, progress and summaries go to stderr; data a command prints for other programs goes to stdout.
console = Console(stderr=True)

EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on one line and return the exit to raise (``raise fail(...)``)."""
    console.print(f"[bold red]error:[/] {' '.join(message.split())}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
