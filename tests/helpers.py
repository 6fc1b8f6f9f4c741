"""Run the pipeline in-process and read its outputs back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.core.config import load_config
from datahygiene.engine.run import RunResult, run


def run_inputs(inputs: Sequence[Path | str], output: Path, *overrides: str, **kwargs: Any) -> RunResult:
    """Run with the default config plus ``overrides``."""
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "minimal.yaml", list(overrides))
    return run(config, [str(i) for i in inputs], output, **kwargs)


def read_route(output: Path, route: str) -> pa.Table | None:
    """All rows of one route, or None when no file was written."""
    files = sorted((output / route).glob("*.parquet"))
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")


def rows_by_id(output: Path) -> dict[str, dict[str, Any]]:
    """Every output row (kept, rejected, quarantined) keyed by id, with its route."""
    rows: dict[str, dict[str, Any]] = {}
    for route in ("kept", "rejected", "quarantined"):
        table = read_route(output, route)
        for row in table.to_pylist() if table is not None else []:
            key, copy = row["id"], 1
            while key in rows:  # rows that reuse an id (rejected as duplicate_id)
                copy += 1
                key = f"{row['id']}#{copy}"
            rows[key] = {**row, "route": route}
    return rows
