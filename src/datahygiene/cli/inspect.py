"""``datahygiene inspect`` and ``verify``: read a finished run back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from datahygiene.cli.common import console, fail
from datahygiene.io.sink import NotARunError, RunDir
from datahygiene.io.storage import StorageError
from datahygiene.reports.summary import summary_table
from datahygiene.reports.tags import kept_tag_counts
from datahygiene.reports.verify import verify_run


def inspect_command(
    output: Annotated[str, typer.Argument(help="A run's output directory or URL.")],
    samples: Annotated[int, typer.Option(help="Rejected rows to show.")] = 10,
) -> None:
    """Print a run's manifest summary and sample rejected rows with their reasons."""
    try:
        run_dir = RunDir.at(output)
        manifest = run_dir.read_manifest()
    except (NotARunError, StorageError) as error:
        raise fail(str(error)) from None
    console.print(summary_table(manifest, run_dir.location))
    with run_dir.local_view() as folder:
        _samples(folder, samples)
    for entry in manifest["shards"]:
        if entry.get("status") == "failed":
            console.print(f"[red]failed shard[/] {entry['shard']}: {entry['error']}", highlight=False)


def _samples(output: Path, samples: int) -> None:
    """Sample rejected rows, then the tags on kept rows."""
    table = Table(title="sample rejected rows")
    table.add_column("id")
    table.add_column("text")
    table.add_column("reasons")
    shown = 0
    for path in sorted((output / "rejected").glob("*.parquet")):
        for row in pq.read_table(path, columns=["id", "text", "reject_reasons"]).to_pylist():
            text = (row["text"] or "").replace("\n", " ")
            table.add_row(row["id"], text[:60] + ("…" if len(text) > 60 else ""), ", ".join(row["reject_reasons"]))
            shown += 1
            if shown >= samples:
                break
        if shown >= samples:
            break
    Console().print(table)
    _print_kept_tags(output)


def _print_kept_tags(output: Path) -> None:
    """Tags the policy did not act on (likeness, copyright, synthetic ...): rows kept with each."""
    counts = kept_tag_counts(output)
    if not counts:
        return
    table = Table(title="tags on kept rows")
    table.add_column("column")
    table.add_column("tag")
    table.add_column("kept rows", justify="right")
    table.add_column("e.g. id")
    for (column, tag), count in sorted(counts.items(), key=lambda item: (item[0][0], -item[1].rows, item[0][1])):
        table.add_row(column, tag, f"{count.rows:,}", count.example_id or "")
    Console().print(table)


def verify_command(output: Annotated[str, typer.Argument(help="A run's output directory or URL.")]) -> None:
    """Re-hash a run's output files and check them against its manifest (exit 1 on a mismatch, 2 if no run)."""
    try:
        errors = verify_run(RunDir.at(output))
    except (NotARunError, StorageError) as error:
        raise fail(str(error)) from None
    for message in errors:
        console.print(f"[bold red]mismatch:[/] {message}", highlight=False)
    if errors:
        raise typer.Exit(1)
    typer.echo(f"{output}: every output file matches the manifest")
