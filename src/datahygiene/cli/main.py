"""Command-line interface: ``datahygiene run``, ``inspect`` and friends."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from datahygiene import __version__
from datahygiene.cli.calibrate import calibrate
from datahygiene.cli.datasheet import datasheet
from datahygiene.cli.dedup import dedup_distributed_command
from datahygiene.cli.trace import trace_command
from datahygiene.core.config import ConfigError, load_config
from datahygiene.engine.run import OutputExistsError, ResumeMismatchError, RunResult, run
from datahygiene.io.rundir import RunDir
from datahygiene.io.sources import InputError, ShardSource
from datahygiene.io.storage import StorageError, is_url

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Make training datasets safe to train on.")
console = Console(stderr=True)

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class _RichProgress:
    """Progress bar over rows, one task per run, described by the current shard."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("starting", total=None)
        self.done_shards = 0
        self.total_shards = 0

    def run_started(self, shards: list[ShardSource], skipped: int) -> None:
        self.total_shards = len(shards)
        self.done_shards = skipped
        if skipped:
            console.print(f"resuming: {skipped} of {len(shards)} shards already committed")

    def rows_done(self, shard: ShardSource, rows: int) -> None:
        self.progress.update(self.task, advance=rows, description=f"shard {self.done_shards + 1}/{self.total_shards}")

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None:
        self.done_shards += 1
        if "error" in record:
            console.print(f"[red]shard failed[/] {shard.shard_id}: {record['error']}", highlight=False)


def _summary(result: RunResult) -> Table:
    manifest = result.manifest
    table = Table(title=f"datahygiene run -> {result.output}", show_header=True)
    table.add_column("")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    total = max(manifest["rows_in"], 1)
    for label, key in (("read", "rows_in"), ("kept", "rows_kept"), ("rejected", "rows_rejected")):
        table.add_row(label, f"{manifest[key]:,}", f"{manifest[key] / total:.1%}")
    table.add_row("quarantined", f"{manifest['rows_quarantined']:,}", f"{manifest['rows_quarantined'] / total:.1%}")
    by_count = sorted(manifest["reject_reasons"].items(), key=lambda item: (-item[1], item[0]))
    for reason, count in by_count[:15]:
        table.add_row(f"  {reason}", f"{count:,}", f"{count / total:.1%}")
    return table


@app.command("run")
def run_command(
    inputs: Annotated[
        list[str], typer.Option("--input", "-i", help="File, folder, glob or hf:PATH?split=..; repeatable.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output directory or URL (s3://...), new or with --resume.")
    ],
    config_path: Annotated[Path | None, typer.Argument(help="YAML config; defaults apply when omitted.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a config key: a.b=value.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a run: skip committed shards.")] = False,
    dedup_index: Annotated[
        str | None, typer.Option("--dedup-index", help="Persistent dedup index shared across runs (folder or URL).")
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Never touch the network for models.")] = False,
    no_datasheet: Annotated[
        bool, typer.Option("--no-datasheet", help="Skip the datasheet; build it later with `datahygiene datasheet`.")
    ] = False,
) -> None:
    """Score, deduplicate and filter the inputs; write kept/rejected Parquet and a manifest."""
    extra = list(overrides or [])
    if offline:
        extra.append("models.offline=true")
    try:
        config = load_config(config_path, extra)
    except ConfigError as error:
        raise _fail(str(error)) from None
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    try:
        with progress:
            result = run(
                config,
                inputs,
                output,
                resume=resume,
                dedup_index=None if dedup_index is None else dedup_index if is_url(dedup_index) else Path(dedup_index),
                listener=_RichProgress(progress),
                write_documents=not no_datasheet,
            )
    except (ConfigError, InputError, OutputExistsError, ResumeMismatchError, StorageError) as error:
        raise _fail(str(error)) from None
    console.print(_summary(result))
    run_dir = RunDir.at(output)
    kept, rejected, manifest = (run_dir.describe(name) for name in ("kept", "rejected", "manifest.json"))
    console.print(f"outputs: {kept}, {rejected}; manifest: {manifest}")
    if run_dir.exists("datasheet.md"):
        documents = ", ".join(run_dir.describe(name) for name in ("datasheet.md", "datasheet.html", "README.md"))
        console.print(f"datasheet: {documents}")
    for message in result.invariant_errors:
        console.print(f"[bold red]invariant violated:[/] {message}", highlight=False)
    if result.failed_shards:
        console.print(f"[red]{len(result.failed_shards)} shard(s) failed[/]; rerun with --resume after fixing them")
    raise typer.Exit(result.exit_code)


@app.command("inspect")
def inspect_command(
    output: Annotated[str, typer.Argument(help="A run's output directory or URL.")],
    samples: Annotated[int, typer.Option(help="Rejected rows to show.")] = 10,
) -> None:
    """Print a run's manifest summary and sample rejected rows with their reasons."""
    try:
        run_dir = RunDir.at(output)
        finished = run_dir.exists("manifest.json")
    except StorageError as error:
        raise _fail(str(error)) from None
    if not finished:
        raise _fail(f"{output} has no manifest.json (not a finished run?)")
    with run_dir.local_view() as folder:
        _inspect(folder, run_dir.location, samples)


def _inspect(output: Path, location: Path | str, samples: int) -> None:
    manifest = json.loads((output / "manifest.json").read_text())
    console.print(_summary(RunResult(manifest=manifest, output=location)))
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
    for entry in manifest["shards"]:
        if entry.get("status") == "failed":
            console.print(f"[red]failed shard[/] {entry['shard']}: {entry['error']}", highlight=False)


def _print_kept_tags(output: Path) -> None:
    """Tags the policy did not act on (likeness, copyright, synthetic ...): rows kept with each."""
    from datahygiene.reports.tags import kept_tag_counts

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


@app.command("verify")
def verify_command(output: Annotated[str, typer.Argument(help="A run's output directory or URL.")]) -> None:
    """Re-hash a run's output files and check them against its manifest."""
    from datahygiene.reports.verify import verify_run

    try:
        errors = verify_run(RunDir.at(output))
    except StorageError as error:
        raise _fail(str(error)) from None
    for message in errors:
        console.print(f"[bold red]mismatch:[/] {message}", highlight=False)
    if errors:
        raise typer.Exit(1)
    typer.echo(f"{output}: every output file matches the manifest")


@app.command("make-demo")
def make_demo_command(
    directory: Annotated[Path, typer.Argument(help="Folder to write the demo dataset into.")] = Path("demo-data"),
) -> None:
    """Generate the small demo dataset (text and images with planted problems)."""
    from datahygiene.cli.demo import make_demo

    for name, rows in make_demo(directory).items():
        typer.echo(f"{directory / name}: {rows} rows")


app.command("datasheet")(datasheet)
app.command("calibrate")(calibrate)
app.command("trace")(trace_command)
app.command("dedup-distributed")(dedup_distributed_command)


@app.command("stages")
def stages_command() -> None:
    """List the registered stage names."""
    from datahygiene.core import registry

    for name in registry.names():
        typer.echo(name)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted; committed shards are kept, rerun with --resume")
        sys.exit(130)
