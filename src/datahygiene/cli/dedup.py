"""``datahygiene run-partitioned`` (alias ``dedup-distributed``): ``run`` with dedup as the partitioned phase."""

from __future__ import annotations

from typing import Annotated

import typer

from datahygiene.cli.run import (
    OFFLINE_DEFAULT,
    RESUME_DEFAULT,
    ConfigArgument,
    DedupIndexOption,
    InputsOption,
    NoDatasheetOption,
    OfflineOption,
    OutputOption,
    OverridesOption,
    ResumeOption,
    execute,
)


def run_partitioned_command(
    inputs: InputsOption,
    output: OutputOption,
    config_path: ConfigArgument = None,
    overrides: OverridesOption = None,
    resume: ResumeOption = RESUME_DEFAULT,
    dedup_index: DedupIndexOption = None,
    offline: OfflineOption = OFFLINE_DEFAULT,
    no_datasheet: NoDatasheetOption = False,
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
