"""``datahygiene inspect`` and ``verify``: read a finished run back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from datahygiene.cli.common import console, fail

if TYPE_CHECKING:
    from rich.table import Table


def inspect_command(
    output: Annotated[str, typer.Argument(help="A run's output directory or URL.")],
    samples: Annotated[int, typer.Option(help="Rejected rows to show.")] = 10,
) -> None:
    """Print a run's manifest summary and sample rejected rows with their reasons."""
    from datahygiene.io.sink import NotARunError, RunDir
    from datahygiene.io.storage import StorageError
    from datahygiene.reports.summary import stage_table, summary_table

    try:
        run_dir = RunDir.at(output)
        manifest = run_dir.read_manifest()
    except (NotARunError, StorageError) as error:
        raise fail(str(error)) from None
    console().print(summary_table(manifest, run_dir.location))
    timing = stage_table(manifest)
    if timing is not None:
        console().print(timing)
    with run_dir.local_view() as folder:
        _samples(folder, samples)
    for entry in manifest["shards"]:
        if entry.get("status") == "failed":
            console().print(f"[red]failed shard[/] {entry['shard']}: {entry['error']}", highlight=False)


def _samples(output: Path, samples: int) -> None:
    """Sample rejected rows, then the tags on kept rows."""
    import pyarrow.parquet as pq
    from rich.table import Table

    table = Table(title="sample rejected rows")
    ids: list[str] = []
    rows: list[tuple[str, str]] = []
    for path in sorted((output / "rejected").glob("*.parquet")):
        for row in pq.read_table(path, columns=["id", "text", "reject_reasons"]).to_pylist():
            text = (row["text"] or "").replace("\n", " ")
            ids.append(row["id"])
            rows.append((text[:60] + ("…" if len(text) > 60 else ""), ", ".join(row["reject_reasons"])))
            if len(ids) >= samples:
                break
        if len(ids) >= samples:
            break
    _id_column(table, ids)
    table.add_column("text", overflow="ellipsis")
    table.add_column("reasons")
    for row_id, (text, reasons) in zip(ids, rows, strict=True):
        table.add_row(row_id, text, reasons)
    _print_wide(table, ids)
    _print_kept_tags(output)


def _print_kept_tags(output: Path) -> None:
    """Tags the policy did not act on (likeness, copyright, synthetic ...): rows kept with each."""
    from rich.table import Table

    from datahygiene.reports.tags import kept_tag_counts

    counts = kept_tag_counts(output)
    if not counts:
        return
    table = Table(title="tags on kept rows")
    table.add_column("column")
    table.add_column("tag")
    table.add_column("kept rows", justify="right")
    ordered = sorted(counts.items(), key=lambda item: (item[0][0], -item[1].rows, item[0][1]))
    ids = [count.example_id or "" for _, count in ordered]
    _id_column(table, ids, "e.g. id")
    for ((column, tag), count), row_id in zip(ordered, ids, strict=True):
        table.add_row(column, tag, f"{count.rows:,}", row_id)
    _print_wide(table, ids)


def _id_column(table: Table, ids: list[str], header: str = "id") -> None:
    """An id column that never wraps or shortens an id, so it can be pasted into ``datahygiene trace``."""
    table.add_column(header, no_wrap=True, min_width=max((len(i) for i in ids), default=len(header)))


def _print_wide(table: Table, ids: list[str]) -> None:
    """Print ``table`` at least wide enough for its longest id (a narrow terminal soft-wraps the line)."""
    from rich.console import Console

    out = Console()
    needed = max((len(i) for i in ids), default=0) + 60
    Console(width=max(out.width, needed)).print(table)


def verify_command(output: Annotated[str, typer.Argument(help="A run's output directory or URL.")]) -> None:
    """Re-hash a run's output files and check them against its manifest (exit 1 on a mismatch, 2 if no run)."""
    from datahygiene.io.sink import NotARunError, RunDir
    from datahygiene.io.storage import StorageError
    from datahygiene.reports.verify import verify_run

    try:
        errors = verify_run(RunDir.at(output))
    except (NotARunError, StorageError) as error:
        raise fail(str(error)) from None
    for message in errors:
        console().print(f"[bold red]mismatch:[/] {message}", highlight=False)
    if errors:
        raise typer.Exit(1)
    typer.echo(f"{output}: every output file matches the manifest")
