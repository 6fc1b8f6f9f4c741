"""What readers hand on: batches of rows or Arrow records, rows that failed (see :mod:`.jsonline`), bytes counted."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, cast

import pyarrow as pa

# one JSON line -> a row or a RowFailure: part of what readers hand on
from datahygiene.io.jsonline import RowFailure as RowFailure
from datahygiene.io.jsonline import parse_json_line as parse_json_line

#: File suffixes read as pictures (in folders and as WebDataset members).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


@dataclass
class SourceBatch:
    """Rows as read. ``records`` is columnar; ``rows`` is used by row-based formats.

    Exactly one of ``records`` and ``rows`` is set. In ``rows``, a failed row is a
    :class:`RowFailure`; in columnar batches failures are listed in ``failures``
    as (row index, failure) and their record values are null. A row-based batch
    may list a dict row in ``failures`` too: the row keeps its values and also
    gets the failure's reason and raw bytes (a WebDataset sample whose ``json``
    member is unreadable keeps its other members).
    """

    records: pa.RecordBatch | None = None
    rows: list[dict[str, Any] | RowFailure] | None = None
    failures: list[tuple[int, RowFailure]] = field(default_factory=list)
    #: ``rows`` only: keys that become typed columns (the same for every batch of a shard); a value that does
    #: not fit its type stays in ``metadata``. Other keys go to ``metadata`` as JSON.
    typed: dict[str, pa.DataType] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        if self.records is not None:
            rows: int = self.records.num_rows
            return rows
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
