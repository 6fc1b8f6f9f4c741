"""Which columns the input shards have, found before any model loads: a mistyped ``columns:`` mapping is a usage error.

Parquet and CSV shards name their columns up front (footer, header row); schemaless shards (JSONL, WebDataset,
Hugging Face streams) are judged by their first :data:`SAMPLE_ROWS` rows. Shards are probed in input order only
until every mapped column has been seen, so a correct mapping costs one probe.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.core.config import ColumnMap, ConfigError
from datahygiene.io.jsonline import json_line_rows
from datahygiene.io.readers import csv_header
from datahygiene.io.sources import RowFailure, ShardSource

#: Rows read from a schemaless shard to learn its fields.
SAMPLE_ROWS = 1000
#: At most about this many bytes are read for them.
_SAMPLE_BYTES = 1 << 20


class UnknownColumnError(ConfigError):
    """A role is mapped to a column that no input shard has."""


def shard_columns(shard: ShardSource) -> set[str] | None:
    """The shard's column names (schemaless shards: the fields of its first rows); None when unreadable."""
    try:
        if shard.kind == "parquet" and shard.url is None and shard.path is not None:
            return set(pq.read_schema(shard.path).names)
        if shard.kind == "csv":
            return set(csv_header(shard.location))
        if shard.kind == "images":
            return {"id", "image"}
        batches = shard.read(SAMPLE_ROWS, _SAMPLE_BYTES)
        first = next(batches, None)
        getattr(batches, "close", lambda: None)()  # let the reader close its file now
    except (OSError, ValueError, pa.ArrowException):
        return None  # reading the shard in the run reports the problem
    if first is None:
        return set()
    if first.records is not None:
        return set(first.records.schema.names)
    names: set[str] = set()
    rows = json_line_rows(first.json_lines) if first.json_lines is not None else first.rows or []
    for row in rows:
        names.update(row.fields if isinstance(row, RowFailure) else row)
    return names


def check_column_map(shards: Iterable[ShardSource], mapping: ColumnMap) -> None:
    """Raise :class:`UnknownColumnError` when a configured column is in no shard (listing the columns that are)."""
    wanted = {role: name for role, name in mapping.model_dump().items() if name is not None}
    missing = set(wanted.values())
    seen: set[str] = set()
    for shard in shards:
        if not missing:
            return
        columns = shard_columns(shard)
        if columns is None:
            return  # a shard that cannot be read might hold them: the run decides row by row
        seen |= columns
        missing -= columns
    for role, name in wanted.items():
        if name in missing:
            found = ", ".join(sorted(seen)) or "none"
            raise UnknownColumnError(
                f"columns.{role}={name}: no input shard has a column {name!r} (columns found: {found})"
            )
