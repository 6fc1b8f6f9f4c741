"""Drives the dedup phase over in-memory shards as the engine does (spill per shard, decide, columns, amendments)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import Batch
from datahygiene.io.decode import decode_images
from datahygiene.io.workarea import WorkArea
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.phase import DedupPhase

COLUMNS = ("dup_of", "dup_kind", "dup_similarity")


class InProcess:
    """A task client that runs each task at once, here."""

    def submit(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args)

    def gather(self, futures: Any) -> Any:
        return list(futures)


@dataclass
class Decided:
    """The phase's answer: columns in input order (``id``, the three, amended signals), ``decide``'s summary."""

    columns: dict[str, list[Any]]
    summary: dict[str, int]
    phase: DedupPhase


def _batch(records: pa.RecordBatch) -> Batch:
    """A batch as the spool hands it to the phase, pictures decoded by the runner's decoder."""
    if "image" not in records.schema.names:
        return Batch(records=records)
    decoded = decode_images(records.column("image"), Reasons(records.num_rows), max_pixels=10**8, max_bytes=64 << 20)
    return Batch(records=records, images=decoded)


def decide(
    tables: list[pa.Table],
    params: dict[str, Any],
    work: Path,
    partitions: int,
    *,
    client: Any = None,
    signals: tuple[str, ...] = (),
    batch_rows: int = 300,
) -> Decided:
    """Every shard spilled in batches of ``batch_rows``, decided on ``client`` (default: here), read back per shard.

    ``signals``: columns whose values come back with the phase's amendments applied (inherited signals).
    """
    phase = DedupPhase(DedupParams.model_validate(params), WorkArea(work), partitions=partitions)
    rows = []
    for index, table in enumerate(tables):
        spiller = phase.spiller(index)
        for records in table.to_batches(max_chunksize=batch_rows):
            spiller.add(_batch(records))
        rows.append(spiller.close())
    summary = phase.decide(client or InProcess(), [], rows)
    out: dict[str, list[Any]] = {c: [] for c in ("id", *COLUMNS, *signals)}
    for index, table in enumerate(tables):
        out["id"] += table.column("id").to_pylist()
        decided = phase.columns(index, rows[index])
        for c in COLUMNS:
            out[c] += decided.column(c).to_pylist()
        values = {name: table.column(name) for name in phase.amends if name in table.column_names}
        amended = phase.amendments(index, rows[index], values)
        for c in signals:
            column = table.column(c).to_pylist()
            for row, value in amended.get(c, {}).items():
                column[row] = value
            out[c] += column
    return Decided(out, summary, phase)
