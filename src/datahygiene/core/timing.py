"""Where a run's time goes: seconds, rows and bytes per stage and per engine step, summed over batches.

Engine steps are ``read`` (read and normalise), ``decode`` (images), ``redecode`` (the committer decoding a
spooled shard's images again for its ordered stages: a flow's, or a whole-shard stage's replay),
``duplicate_ids``, ``policy`` and ``write`` (route, filter and hand rows to the Parquet writer, finish and hash
the files); every configured stage is timed under its registry name (a whole-shard stage's ``look`` and
``decide`` are added to its seconds, with no rows). ``bytes`` is the size of the Arrow data the step received.
Each interval is measured with ``time.perf_counter`` around one batch. The order-free steps (``read``,
``decode``, the stages before dedup) run on one thread and the ordered ones (the rest) on another in the CLI
(see :mod:`datahygiene.engine.prefetch`): each group's steps never overlap and sum to at most the shard's wall
time, while the two groups run side by side (together they may exceed it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ENGINE_STEPS = ("read", "decode", "redecode", "duplicate_ids", "policy", "write")


@dataclass
class StageTime:
    """Totals of one stage or step."""

    kind: str = "stage"
    seconds: float = 0.0
    rows: int = 0
    bytes: int = 0

    def record(self, name: str) -> dict[str, Any]:
        """The JSON form written to commit records and the manifest."""
        return {
            "stage": name,
            "kind": self.kind,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
            "bytes": self.bytes,
            "rows_per_second": round(self.rows / self.seconds, 1) if self.seconds > 0 else None,
        }


class StageTimes:
    """Per-name totals in first-seen order (the pipeline's order)."""

    def __init__(self) -> None:
        self.entries: dict[str, StageTime] = {}

    def add(self, name: str, seconds: float, rows: int, nbytes: int, kind: str = "stage") -> None:
        """Add one batch's time for ``name``."""
        entry = self.entries.setdefault(name, StageTime(kind=kind))
        entry.seconds += seconds
        entry.rows += rows
        entry.bytes += nbytes

    @contextmanager
    def measure(self, name: str, rows: int, nbytes: int, kind: str = "stage") -> Iterator[None]:
        """Time the ``with`` block as one batch of ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started, rows, nbytes, kind)

    def absorb(self, other: StageTimes) -> None:
        """Add another set of totals (unrounded)."""
        for name, entry in other.entries.items():
            self.add(name, entry.seconds, entry.rows, entry.bytes, entry.kind)

    def merge(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add totals given as records (another batch's, a shard's, a spooled batch's)."""
        for record in records:
            self.add(
                str(record["stage"]),
                float(record["seconds"]),
                int(record["rows"]),
                int(record["bytes"]),
                str(record.get("kind", "stage")),
            )

    def records(self) -> list[dict[str, Any]]:
        """Every entry as a record, in first-seen order."""
        return [entry.record(name) for name, entry in self.entries.items()]

    def raw_records(self) -> list[dict[str, Any]]:
        """Every entry with unrounded seconds (for a spool, whose batches are summed again by :meth:`merge`)."""
        return [
            {"stage": name, "kind": e.kind, "seconds": e.seconds, "rows": e.rows, "bytes": e.bytes}
            for name, e in self.entries.items()
        ]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> StageTimes:
        """Totals rebuilt from records."""
        times = cls()
        times.merge(records)
        return times
