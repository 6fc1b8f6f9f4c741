"""Removed duplicates whose rights or provenance signals their kept copy lacks.

Dedup gives the kept copy the signals of every duplicate in its shard; a duplicate in a later shard (or of a
copy kept by an earlier run) cannot change a committed row. The datasheet counts those rows so the gap is
visible: a removed row with ``dup_of`` set and a signal (any ``list<string>`` column named ``*_signals``) that
the row named by ``dup_of`` does not carry, or that row is not in this run's output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datahygiene.core import columns as C

SIGNALS_SUFFIX = "_signals"


def _is_string_list(kind: pa.DataType) -> bool:
    return bool(pa.types.is_list(kind) and pa.types.is_string(kind.value_type))


class DuplicateSignals:
    """Collects removed duplicates with signals during the scan; :meth:`count` checks their kept copies."""

    def __init__(self, schema: pa.Schema, dup_of: str | None) -> None:
        self.dup_of = dup_of
        self.signals = [f.name for f in schema if f.name.endswith(SIGNALS_SUFFIX) and _is_string_list(f.type)]
        usable = dup_of is not None and bool(self.signals) and C.ID in schema.names
        #: Columns the scan must read for this (none when the run has no duplicate or signal column).
        self.columns: list[str] = [C.ID, str(dup_of), *self.signals] if usable else []
        self.pending: list[tuple[str, frozenset[str]]] = []

    def add(self, batch: pa.RecordBatch) -> None:
        """Note the removed rows of ``batch`` that duplicate another row and carry a signal."""
        if not self.columns:
            return
        carries = np.zeros(batch.num_rows, dtype=bool)
        for name in self.signals:
            lengths = pc.fill_null(pc.list_value_length(batch.column(name)), 0)
            carries |= np.asarray(lengths.to_numpy(zero_copy_only=False)) > 0
        duplicate = np.asarray(batch.column(str(self.dup_of)).is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        rows = np.flatnonzero(carries & duplicate)
        if not len(rows):
            return
        taken = batch.take(pa.array(rows))
        reps = taken.column(str(self.dup_of)).to_pylist()
        lists = [taken.column(name).to_pylist() for name in self.signals]
        for position, rep in enumerate(reps):
            signals = frozenset(s for values in lists for s in (values[position] or []))
            self.pending.append((str(rep), signals))

    def count(self, files: list[Path]) -> int:
        """How many noted duplicates carry a signal their kept copy (looked up by id in ``files``) lacks."""
        if not self.pending:
            return 0
        wanted = pa.array(sorted({rep for rep, _ in self.pending}), pa.string())
        found: dict[str, set[str]] = {}
        for path in files:
            parquet = pq.ParquetFile(path)
            names = [c for c in (C.ID, *self.signals) if c in parquet.schema_arrow.names]
            if C.ID not in names:
                continue
            for batch in parquet.iter_batches(batch_size=8192, columns=names):
                hits = np.flatnonzero(
                    np.asarray(pc.is_in(batch.column(0), value_set=wanted).to_numpy(zero_copy_only=False))
                )
                for row in batch.take(pa.array(hits)).to_pylist() if len(hits) else []:
                    bucket = found.setdefault(str(row[C.ID]), set())
                    for name in names[1:]:
                        bucket.update(row[name] or [])
        return sum(1 for rep, signals in self.pending if rep not in found or not signals <= found[rep])
