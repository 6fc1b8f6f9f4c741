"""``datahygiene trace OUT ID``: where an output row came from and what was decided about it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from datahygiene.cli.common import fail


def _value(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:199] + "\u2026"


def trace_command(
    output: Annotated[str, typer.Argument(help="A finished run's output directory or URL.")],
    row_id: Annotated[str, typer.Argument(metavar="ID", help="The row's id (the output `id` column).")],
) -> None:
    """Trace a row to its input shard and row, the run's config and models, and its verdict."""
    from datahygiene.io.sink import NotARunError, RunDir
    from datahygiene.io.storage import StorageError
    from datahygiene.reports.trace import trace

    try:
        run_dir = RunDir.at(output)
        run_dir.read_manifest()
    except (NotARunError, StorageError) as error:
        raise fail(str(error)) from None
    with run_dir.local_view() as folder:
        rows = trace(folder, row_id)
    for row in rows:
        if run_dir.remote:  # name the file where it is, not in the local copy
            row.file = run_dir.describe(row.file)
    if not rows:
        typer.echo(f"no output row has id {row_id!r}", err=True)
        raise typer.Exit(1)
    for row in rows:
        provenance = row.provenance
        shard = provenance.get("shard") or {}
        verdict = ", ".join(row.reasons) if row.reasons else "no reasons"
        typer.echo(f"{row_id}: {row.route} ({verdict}) in {row.file}")
        typer.echo(f"  from: {row.source_shard} ({shard.get('kind')}), row {row.source_row}")
        typer.echo(f"  input: {row.input_status} since the run (fingerprint {str(shard.get('fingerprint'))[:16]}…)")
        typer.echo(
            f"  run: datahygiene {provenance.get('version')}, config sha256 {provenance.get('config_sha256')}, "
            f"{len(provenance.get('policy') or [])} policy rules"
        )
        for model in provenance.get("models") or []:
            details = {k: v for k, v in model.items() if k not in ("stage", "version", "columns", "name")}
            typer.echo(f"  stage {model.get('stage')} v{model.get('version')}: {_value(details)}")
        for name, value in row.stage_values.items():
            typer.echo(f"  {name} = {_value(value)}")
