"""``datahygiene dedup-distributed``: exact and near-duplicate text and images over Parquet shards, as tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from datahygiene.cli.common import fail


def dedup_distributed_command(
    inputs: Annotated[list[Path], typer.Argument(help="Parquet shards with `id`, `text`, `image`, in input order.")],
    work: Annotated[Path, typer.Option("--work", help="Work folder; results go to WORK/out/NNNNN.parquet.")],
    partitions: Annotated[int, typer.Option(min=1, help="Key partitions (tasks per bucket/resolve step).")] = 4,
    params: Annotated[
        str, typer.Option(help="dedup stage params as YAML/JSON, e.g. '{near_text: {threshold: 0.9}}'.")
    ] = "",
    scheduler: Annotated[str, typer.Option(help="Address of a running Dask scheduler (tcp://host:8786).")] = "",
    workers: Annotated[int, typer.Option(min=0, help="Start a local Dask cluster with this many workers.")] = 0,
    keep_spill: Annotated[bool, typer.Option(help="Keep the intermediate files (signatures, keys, edges).")] = False,
) -> None:
    """Mark duplicate text rows across all shards without holding every signature in one process."""
    import yaml
    from pydantic import ValidationError

    from datahygiene.stages.dedup import distributed
    from datahygiene.stages.dedup.params import DedupParams

    missing = [str(p) for p in inputs if not p.is_file()]
    if missing:
        raise fail(f"not a file: {', '.join(missing)}")
    try:
        dedup_params = DedupParams.model_validate(yaml.safe_load(params) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise fail(f"bad --params: {exc}") from exc
    if scheduler or workers:
        from dask.distributed import Client, LocalCluster

        cluster: Any = None
        if not scheduler:
            cluster = LocalCluster(n_workers=workers, processes=False, dashboard_address=None)  # type: ignore[no-untyped-call]
        with Client(scheduler or cluster) as client:  # type: ignore[no-untyped-call]
            outputs, summary = distributed.run(
                inputs, work, dedup_params, partitions=partitions, client=client, keep_spill=keep_spill
            )
        if cluster is not None:
            cluster.close()
    else:
        outputs, summary = distributed.run(inputs, work, dedup_params, partitions=partitions, keep_spill=keep_spill)
    typer.echo(json.dumps({**summary, "outputs": [str(p) for p in outputs]}))
