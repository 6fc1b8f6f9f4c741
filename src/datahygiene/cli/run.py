"""``datahygiene run``: score, deduplicate and filter inputs into an output directory."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from datahygiene.cli.common import console, fail
from datahygiene.engine.option_specs import default, describe

# The options ``run`` and ``run-partitioned`` share (one declaration each, so their help cannot drift apart).
InputsOption = Annotated[list[str], typer.Option("--input", "-i", help=describe("inputs"))]
OutputOption = Annotated[str, typer.Option("--output", "-o", help=describe("output"))]
ConfigArgument = Annotated[Path | None, typer.Argument(help=describe("config_path"))]
OverridesOption = Annotated[list[str] | None, typer.Option("--set", help=describe("overrides"))]
ResumeOption = Annotated[bool, typer.Option("--resume", help=describe("resume"))]
DedupIndexOption = Annotated[str | None, typer.Option("--dedup-index", help=describe("dedup_index"))]
OfflineOption = Annotated[bool, typer.Option("--offline", help=describe("offline"))]
NoDatasheetOption = Annotated[bool, typer.Option("--no-datasheet", help=describe("write_datasheet"))]
RESUME_DEFAULT = default("resume")
OFFLINE_DEFAULT = default("offline")


def run_command(
    inputs: InputsOption,
    output: OutputOption,
    config_path: ConfigArgument = None,
    overrides: OverridesOption = None,
    resume: ResumeOption = RESUME_DEFAULT,
    dedup_index: DedupIndexOption = None,
    offline: OfflineOption = OFFLINE_DEFAULT,
    no_datasheet: NoDatasheetOption = False,
) -> None:
    """Score, deduplicate and filter the inputs; write kept/rejected Parquet and a manifest."""
    execute(inputs, output, config_path, overrides, resume, dedup_index, offline, no_datasheet)


def execute(
    inputs: list[str],
    output: str,
    config_path: Path | None,
    overrides: list[str] | None,
    resume: bool,
    dedup_index: str | None,
    offline: bool,
    no_datasheet: bool,
    *,
    partitions: int | None = None,
    workers: int | None = None,
) -> None:
    """Validate the options, run (with dedup as the partitioned phase when ``workers`` is given), print the summary."""
    from pydantic import ValidationError

    from datahygiene.cli.progress import RichProgress
    from datahygiene.core.config import ConfigError
    from datahygiene.engine.options import RunOptions
    from datahygiene.engine.plan import OutputExistsError, OutputPathError, ResumeMismatchError
    from datahygiene.engine.run import RunResult, run
    from datahygiene.io.rundir import RunDir
    from datahygiene.io.sources import InputError
    from datahygiene.io.storage import StorageError
    from datahygiene.reports.summary import stage_table, summary_table
    from datahygiene.stages.weights import check_device

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
        check_device(config.models.device)  # before any input is read or any model loads
    except ValidationError as error:
        raise fail(str(error.errors()[0]["msg"])) from None
    except ConfigError as error:
        raise fail(str(error)) from None
    progress = RichProgress.bar()
    try:
        with progress:
            driver: Callable[..., RunResult] = run
            if workers is not None:
                from datahygiene.engine.phase_local import run_partitioned

                driver = functools.partial(run_partitioned, partitions=partitions, workers=workers)
            result = driver(
                config,
                options.inputs,
                options.output_path,
                resume=options.resume,
                dedup_index=options.dedup_index_path,
                listener=RichProgress(progress),
                write_documents=options.write_datasheet,
            )
    except (ConfigError, InputError, OutputExistsError, OutputPathError, ResumeMismatchError, StorageError) as error:
        raise fail(str(error)) from None
    out = console()
    if result.already_finished:
        out.print(f"{output} already holds this run, finished: nothing to do (no model loaded, no file written)")
    out.print(summary_table(result.manifest, result.output))
    timing = stage_table(result.manifest)
    if timing is not None:
        out.print(timing)
    run_dir = RunDir.at(options.output_path)
    kept, rejected, manifest = (run_dir.describe(name) for name in ("kept", "rejected", "manifest.json"))
    out.print(f"outputs: {kept}, {rejected}; manifest: {manifest}")
    if run_dir.exists("datasheet.md"):
        documents = ", ".join(run_dir.describe(name) for name in ("datasheet.md", "datasheet.html", "README.md"))
        out.print(f"datasheet: {documents}")
    for message in result.invariant_errors:
        out.print(f"[bold red]invariant violated:[/] {message}", highlight=False)
    if result.failed_shards:
        out.print(f"[red]{len(result.failed_shards)} shard(s) failed[/]; rerun with --resume after fixing them")
    raise typer.Exit(result.exit_code)
