"""What readers hand on: batches of rows or Arrow records, rows that failed (see :mod:`.jsonline`), bytes counted,
and record batches cut to a byte budget."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# one JSON line -> a row or a RowFailure: part of what readers hand on
from datahygiene.io.jsonline import RowFailure as RowFailure
from datahygiene.io.jsonline import parse_json_line as parse_json_line

#: File suffixes read as pictures (in folders and as WebDataset members).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

#: Default byte budget of one batch as read (``RunConfig.batch_bytes``).
DEFAULT_BATCH_BYTES = 64 << 20


@dataclass
class SourceBatch:
    """Rows as read. ``records`` is columnar; ``rows`` is used by row-based formats.

    Exactly one of ``records``, ``rows`` and ``json_lines`` is set. In ``rows``, a failed row is a
    :class:`RowFailure`; in columnar batches failures are listed in ``failures``
    as (row index, failure) and their record values are null. A row-based batch
    may list a dict row in ``failures`` too: the row keeps its values and also
    gets the failure's reason and raw bytes (a WebDataset sample whose ``json``
    member is unreadable keeps its other members). ``json_lines`` holds whole
    JSON Lines as read (blank lines included); the normaliser parses them
    (columnar when it can, else line by line).
    """

    records: pa.RecordBatch | None = None
    rows: list[dict[str, Any] | RowFailure] | None = None
    failures: list[tuple[int, RowFailure]] = field(default_factory=list)
    #: ``rows`` only: keys that become typed columns (the same for every batch of a shard); a value that does
    #: not fit its type stays in ``metadata``. Other keys go to ``metadata`` as JSON.
    typed: dict[str, pa.DataType] = field(default_factory=dict)
    json_lines: bytes | None = None

    @property
    def num_rows(self) -> int:
        """Rows in the batch (a ``json_lines`` block: its non-blank lines)."""
        if self.records is not None:
            rows: int = self.records.num_rows
            return rows
        if self.json_lines is not None:
            return sum(1 for line in self.json_lines.split(b"\n") if line.strip())
        return len(self.rows or [])


class ByteMeter:
    """Bytes a reader pulled from a shard's files so far (for progress: the CSV, JSONL and tar readers count)."""

    def __init__(self) -> None:
        self.bytes = 0


class _CountingRaw(io.RawIOBase):
    """A raw reader over an open binary file that adds every byte read to a :class:`ByteMeter`.

    Closing it leaves the wrapped file to its owner.
    """

    def __init__(self, inner: IO[bytes], meter: ByteMeter) -> None:
        self.inner, self.meter = inner, meter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        direct = getattr(self.inner, "readinto", None)
        if direct is not None:  # straight into the caller's buffer: no temporary copy of a batch-sized read
            count = int(direct(buffer) or 0)
        else:
            data = self.inner.read(len(buffer))
            count = len(data)
            buffer[:count] = data
        self.meter.bytes += count
        return count


@contextmanager
def counted(raw: IO[bytes], meter: ByteMeter | None) -> Iterator[IO[bytes]]:
    """``raw`` as is, or buffered with every byte read added to ``meter`` (closing it leaves ``raw`` open)."""
    if meter is None:
        yield raw
        return
    with io.BufferedReader(_CountingRaw(raw, meter), buffer_size=1 << 16) as reader:
        yield cast(IO[bytes], reader)


def row_bytes(records: pa.RecordBatch) -> npt.NDArray[np.int64]:
    """Approximate bytes of each row: value lengths of string and binary columns (struct fields included),
    the average width of any other column."""
    n = records.num_rows
    sizes = np.zeros(n, dtype=np.int64)
    pending = list(records.columns)
    while pending:
        column = pending.pop()
        kind = column.type
        if pa.types.is_struct(kind):
            pending += [pc.struct_field(column, index) for index in range(kind.num_fields)]
        elif (
            pa.types.is_binary(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_binary(kind)
            or pa.types.is_large_string(kind)
        ):
            lengths = pc.fill_null(pc.binary_length(column), 0)
            sizes += np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)
        else:
            sizes += column.nbytes // max(n, 1)
    return sizes


def split_by_bytes(records: pa.RecordBatch, batch_bytes: int) -> list[pa.RecordBatch]:
    """``records`` cut into consecutive slices of about ``batch_bytes`` each (at least one row each)."""
    if records.num_rows <= 1 or records.nbytes <= batch_bytes:
        return [records]
    ends = np.cumsum(row_bytes(records))
    cuts = [0]
    while cuts[-1] < records.num_rows:
        start = cuts[-1]
        base = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, base + batch_bytes, side="right"))
        cuts.append(min(records.num_rows, max(stop, start + 1)))
    return [records.slice(a, b - a) for a, b in itertools.pairwise(cuts)]
