"""``datahygiene run``: score, deduplicate and filter inputs into an output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from datahygiene.cli.common import console, fail
from datahygiene.core.config import ConfigError
from datahygiene.engine.options import RunOptions
from datahygiene.engine.plan import OutputExistsError, ResumeMismatchError
from datahygiene.engine.run import run
from datahygiene.io.rundir import RunDir
from datahygiene.io.sources import InputError, ShardSource
from datahygiene.io.storage import StorageError
from datahygiene.reports.summary import summary_table

describe = RunOptions.describe


class RichProgress:
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


def run_command(
    inputs: Annotated[list[str], typer.Option("--input", "-i", help=describe("inputs"))],
    output: Annotated[str, typer.Option("--output", "-o", help=describe("output"))],
    config_path: Annotated[Path | None, typer.Argument(help=describe("config_path"))] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help=describe("overrides"))] = None,
    resume: Annotated[bool, typer.Option("--resume", help=describe("resume"))] = RunOptions.default("resume"),
    dedup_index: Annotated[str | None, typer.Option("--dedup-index", help=describe("dedup_index"))] = None,
    offline: Annotated[bool, typer.Option("--offline", help=describe("offline"))] = RunOptions.default("offline"),
    no_datasheet: Annotated[bool, typer.Option("--no-datasheet", help=describe("write_datasheet"))] = False,
) -> None:
    """Score, deduplicate and filter the inputs; write kept/rejected Parquet and a manifest."""
    try:
        options = RunOptions(
            inputs=inputs,
            output=output,
            config_path=None if config_path is None else str(config_path),
            overrides=list(overrides or []),
            resume=resume,
            dedup_index=dedup_index,
            offline=offline,
            write_datasheet=not no_datasheet,
        )
        config = options.run_config()
    except ValidationError as error:
        raise fail(str(error.errors()[0]["msg"])) from None
    except ConfigError as error:
        raise fail(str(error)) from None
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
                options.inputs,
                options.output_path,
                resume=options.resume,
                dedup_index=options.dedup_index_path,
                listener=RichProgress(progress),
                write_documents=options.write_datasheet,
            )
    except (ConfigError, InputError, OutputExistsError, ResumeMismatchError, StorageError) as error:
        raise fail(str(error)) from None
    console.print(summary_table(result.manifest, result.output))
    run_dir = RunDir.at(options.output_path)
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
