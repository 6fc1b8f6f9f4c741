"""The duplicate-id check as tasks, for the partitioned flow: no process holds every id.

The serial check (:class:`~datahygiene.engine.ids.IdIndex`) marks a row ``duplicate_id`` when its id's hash
was seen in an earlier row, in input order. Here each shard's task writes ``(hash, shard, row)`` records
(16 B a row, the same 64-bit hashes) into K partition files by hash (:class:`IdSpill`); one task per
partition sorts its records and marks every record after the first of its hash (:func:`resolve_ids`: first
occurrence in input order wins, as in the serial check); each commit task reads its shard's marks
(:func:`duplicate_mask`). A partition task holds 16 B per row of its partition; nothing grows with the run
in one process.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from datahygiene.engine.ids import hash_ids
from datahygiene.io.workarea import WorkArea

RECORD = np.dtype([("hash", "<u8"), ("shard", "<u4"), ("row", "<u4")])


def _records_file(shard: int, part: int) -> str:
    return f"ids/{shard:05d}-{part:04d}.npy"


def _marks_file(shard: int, part: int) -> str:
    return f"id-dups/{shard:05d}/{part:04d}.npy"


class IdSpill:
    """Collects one shard's id hashes batch by batch; :meth:`close` writes them to their partitions."""

    def __init__(self, work: WorkArea, shard: int, partitions: int) -> None:
        self.work, self.shard, self.partitions = work, shard, partitions
        self.rows = 0
        self.parts: list[list[npt.NDArray[np.void]]] = [[] for _ in range(partitions)]

    def add(self, ids: pa.Array) -> None:
        """The ids of the shard's next batch (in input order)."""
        hashes = hash_ids(ids)
        records = np.empty(len(hashes), dtype=RECORD)
        records["hash"], records["shard"] = hashes, self.shard
        records["row"] = np.arange(self.rows, self.rows + len(hashes), dtype=np.uint32)
        part = (hashes % np.uint64(self.partitions)).astype(np.int64)
        for p in range(self.partitions):
            self.parts[p].append(records[part == p])
        self.rows += len(hashes)

    def close(self) -> int:
        """Write the partition files; returns the shard's rows."""
        for p in range(self.partitions):
            found = np.concatenate(self.parts[p]) if self.parts[p] else np.zeros(0, RECORD)
            self.work.save_array(_records_file(self.shard, p), found)
        return self.rows


def resolve_ids(work: WorkArea, part: int, shards: list[int]) -> int:
    """Mark the records of partition ``part`` whose hash an earlier row (shard, then row order) has; returns them."""
    found = [work.load_array(_records_file(shard, part)) for shard in shards]
    records = np.concatenate(found) if found else np.zeros(0, RECORD)
    records = records[np.lexsort((records["row"], records["shard"], records["hash"]))]
    later = np.r_[False, records["hash"][1:] == records["hash"][:-1]] if len(records) else np.zeros(0, np.bool_)
    marked = records[later]
    for shard in np.unique(marked["shard"]).tolist():
        rows = np.sort(marked["row"][marked["shard"] == shard])
        work.save_array(_marks_file(int(shard), part), rows)
    return len(marked)


def duplicate_mask(work: WorkArea, shard: int, rows: int) -> npt.NDArray[np.bool_]:
    """Per row of the shard, whether its id is a duplicate of an earlier row's."""
    mask = np.zeros(rows, dtype=np.bool_)
    for name in work.names(f"id-dups/{shard:05d}"):
        mask[work.load_array(name).astype(np.int64)] = True
    return mask
