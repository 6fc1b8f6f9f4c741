"""Names and numbering shared by the steps of the partitioned dedup path (see :mod:`.partition_steps`).

A *source* is an input shard (``00000``, ``00001`` ...) or a segment of the cross-run index (``i00000`` ...).
:class:`Layout` numbers every row of every source in one global order: the index's representatives first
(negative numbers, in index order), then the shards' rows in input order. Keys are spread over K partitions
by a hash, so every row that carries one key meets the others in one partition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from datahygiene.stages.dedup.normalize import mix64
from datahygiene.stages.dedup.params import DedupParams

if TYPE_CHECKING:
    from datahygiene.io.workarea import WorkArea

I64 = npt.NDArray[np.int64]
#: Per-row flags of the kinds a row has: text key, MinHash signature, decoded picture, file bytes.
TEXT_OK, SIG_OK, IMAGE_OK, BYTES_OK = 1, 2, 4, 8
#: Flags of the kinds that make a row a representative when it is no duplicate (``features.any_ok``).
USABLE = TEXT_OK | SIG_OK | IMAGE_OK
RECORD = np.dtype([("key", "<u8"), ("row", "<u4")])  # a key and the source-local row that carries it: 12 B


def partition_params(params: DedupParams) -> DedupParams:
    """The kinds this path decides: text and image (semantic off: it needs the embeddings' range search)."""
    data = params.model_dump()
    data["semantic"]["enabled"] = False
    return DedupParams.model_validate(data)


def shard_name(index: int) -> str:
    """The source name of input shard ``index``."""
    return f"{index:05d}"


def segment_name(index: int) -> str:
    """The source name of the ``index``-th segment of the cross-run index."""
    return f"i{index:05d}"


def key_file(name: str, part: int) -> str:
    """A source's exact and band key records in partition ``part``."""
    return f"keys/{name}-{part:04d}.npy"


def insert_file(name: str, part: int) -> str:
    """A source's pHash-substring inserts in partition ``part``."""
    return f"inserts/{name}-{part:04d}.npy"


def partition_of(keys: npt.NDArray[np.uint64], partitions: int) -> I64:
    """The partition of each key (a hash of it, so the rows of one bucket meet in one partition)."""
    return (mix64(keys) % np.uint64(partitions)).astype(np.int64)


@dataclass(frozen=True)
class Layout:
    """Every source's name, first global row and row count, in global order (index segments, then shards)."""

    names: tuple[str, ...]
    starts: tuple[int, ...]
    rows: tuple[int, ...]

    @classmethod
    def of(cls, segments: list[int], shards: list[int], indices: list[int] | None = None) -> Layout:
        """Index segments of ``segments`` representatives each (numbered below zero), then shards of ``shards``
        rows (named by ``indices``, default ``0, 1, ...``)."""
        indices = list(range(len(shards))) if indices is None else indices
        names = [segment_name(i) for i in range(len(segments))] + [shard_name(i) for i in indices]
        counts = [*segments, *shards]
        starts = (np.cumsum([0, *counts[:-1]]) - sum(segments)).tolist() if counts else []
        return cls(tuple(names), tuple(int(s) for s in starts), tuple(counts))

    @property
    def shard_names(self) -> list[str]:
        """The input shards' source names, in input order."""
        return [name for name in self.names if not name.startswith("i")]

    def start_of(self, name: str) -> int:
        """The first global row of source ``name``."""
        return self.starts[self.names.index(name)]

    def rows_of(self, name: str) -> int:
        """The row count of source ``name``."""
        return self.rows[self.names.index(name)]

    def gather(
        self, work: WorkArea, file_of: Callable[[str, int], str], part: int
    ) -> tuple[npt.NDArray[np.uint64], I64]:
        """Every source's ``(key, row)`` records of partition ``part`` (``file_of(name, part)``), rows made global."""
        keys: list[npt.NDArray[np.uint64]] = []
        rows: list[I64] = []
        for name, start in zip(self.names, self.starts, strict=True):
            records = work.load_array(file_of(name, part))
            keys.append(records["key"])
            rows.append(records["row"].astype(np.int64) + start)
        key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        return key, np.concatenate(rows) if rows else np.zeros(0, np.int64)
