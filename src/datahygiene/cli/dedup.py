"""``datahygiene run-partitioned`` (alias ``dedup-distributed``): ``run`` with dedup as the partitioned phase."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datahygiene.cli.run import execute
from datahygiene.engine.option_specs import default, describe


def run_partitioned_command(
    inputs: Annotated[list[str], typer.Option("--input", "-i", help=describe("inputs"))],
    output: Annotated[str, typer.Option("--output", "-o", help=describe("output"))],
    config_path: Annotated[Path | None, typer.Argument(help=describe("config_path"))] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help=describe("overrides"))] = None,
    resume: Annotated[bool, typer.Option("--resume", help=describe("resume"))] = default("resume"),
    dedup_index: Annotated[str | None, typer.Option("--dedup-index", help=describe("dedup_index"))] = None,
    offline: Annotated[bool, typer.Option("--offline", help=describe("offline"))] = default("offline"),
    no_datasheet: Annotated[bool, typer.Option("--no-datasheet", help=describe("write_datasheet"))] = False,
    partitions: Annotated[
        int | None, typer.Option(min=1, help="Key partitions of the dedup phase (default: 2 per worker, at least 4).")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes for scoring, the phase and the commits (1: this process).")
    ] = 1,
) -> None:
    """Like `run`, with dedup as the flow's partitioned phase: no process holds every shard's signatures."""
    execute(
        inputs,
        output,
        config_path,
        overrides,
        resume,
        dedup_index,
        offline,
        no_datasheet,
        partitions=partitions,
        workers=workers,
    )
