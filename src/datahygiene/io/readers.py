"""Streaming readers of one shard: each yields :class:`~datahygiene.io.batches.SourceBatch` objects in input
order, at most ``batch_size`` rows and about ``batch_bytes`` bytes each, and never drops a row. A ``meter``
given to a reader counts the bytes it pulls from the shard's files (the progress bar; CSV, JSONL, tars).
WebDataset tars are grouped into samples by :mod:`.webdataset`, ``hf:`` datasets streamed by :mod:`.hf`."""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datahygiene.io import hf, webdataset
from datahygiene.io.batches import ByteMeter, RowFailure, SourceBatch, counted, split_by_bytes
from datahygiene.io.jsonline import clean_fields
from datahygiene.io.storage import open_binary


class Shard(Protocol):
    """What a reader needs of a :class:`~datahygiene.io.sources.ShardSource`."""

    @property
    def path(self) -> Path | None: ...

    @property
    def root(self) -> Path | str | None: ...

    @property
    def url(self) -> str | None: ...

    @property
    def members(self) -> tuple[str, ...]: ...

    @property
    def location(self) -> Path | str: ...

    @property
    def files(self) -> tuple[Path, ...]: ...

    @property
    def hf_args(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def hf_shard(self) -> tuple[int, int] | None: ...

    @property
    def shard_id(self) -> str: ...


@contextmanager
def _open_counted(shard: Shard, meter: ByteMeter | None) -> Iterator[IO[bytes]]:
    """The shard's file (local or URL) opened for reading; reads are counted by ``meter`` when given."""
    with open_binary(shard.location) as raw, counted(raw, meter) as handle:
        yield handle


@contextmanager
def _arrow_source(shard: Shard, meter: ByteMeter | None = None) -> Iterator[str | IO[bytes]]:
    """What pyarrow opens: a local path as is (its native reader), a URL or a counted read as a file."""
    if shard.url is None and meter is None:
        assert shard.path is not None
        yield str(shard.path)
        return
    with _open_counted(shard, meter) as handle:
        yield handle


def _open_lines(handle: IO[bytes], name: str) -> IO[bytes]:
    """The line source of an opened file: ``handle`` itself, or decompressed when the name ends in ``.gz``."""
    if name.lower().endswith(".gz"):
        import gzip

        return cast(IO[bytes], gzip.open(handle, "rb"))  # closing it leaves ``handle`` to its owner
    return handle


def _read_parquet(
    shard: Shard, batch_size: int, batch_bytes: int, meter: ByteMeter | None = None
) -> Iterator[SourceBatch]:
    """Batches of at most ``batch_size`` rows, sized from the footer's uncompressed bytes per row, then cut to
    ``batch_bytes`` by their rows' own sizes (a few very long rows make a smaller batch)."""
    with _arrow_source(shard) as source, pq.ParquetFile(source) as parquet:
        meta = parquet.metadata
        total = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        per_row = total / max(meta.num_rows, 1)
        rows = max(1, min(batch_size, int(batch_bytes / max(per_row, 1.0))))
        for records in parquet.iter_batches(batch_size=rows):
            for part in split_by_bytes(records, batch_bytes):
                yield SourceBatch(records=part)


def _read_jsonl(
    shard: Shard, batch_size: int, batch_bytes: int, meter: ByteMeter | None = None
) -> Iterator[SourceBatch]:
    """Whole lines, about ``batch_bytes`` at a time (a longer line is read whole), at most ``batch_size`` lines."""
    with _open_counted(shard, meter) as raw, _open_lines(raw, str(shard.location)) as handle:
        pending = b""
        while chunk := handle.read(batch_bytes):
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                pending += chunk  # no line end yet: one long line
                continue
            blocks = _line_blocks(b"".join((pending, memoryview(chunk)[:cut])), batch_size)
            pending = chunk[cut:]
            del chunk
            while blocks:  # hand each block over without keeping a reference (the batch may drop it)
                yield SourceBatch(json_lines=blocks.pop())
        blocks = _line_blocks(pending, batch_size) if pending else []
        while blocks:
            yield SourceBatch(json_lines=blocks.pop())


def _line_blocks(block: bytes, batch_size: int) -> list[bytes]:
    """``block`` cut after every ``batch_size``-th line, last block first (for ``pop``)."""
    if block.count(b"\n") + (not block.endswith(b"\n")) <= batch_size:
        return [block]
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n")) + 1
    cuts = [0, *ends[batch_size - 1 :: batch_size].tolist()]
    if cuts[-1] < len(block):
        cuts.append(len(block))
    return [block[start:stop] for start, stop in reversed(list(itertools.pairwise(cuts)))]


def csv_header(location: Path | str) -> list[str]:
    """The column names of a CSV file (its first row)."""
    import csv

    with open_binary(location) as raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as handle:
        return next(csv.reader(handle), [])


def _csv_fields(header: list[str], line: str) -> dict[str, Any]:
    """The values of a malformed CSV row by their position in the header (for its id)."""
    import csv

    try:
        values = next(csv.reader([line]), [])
    except csv.Error:
        return {}
    return clean_fields(dict(zip(header, values, strict=False)))


def _read_csv(shard: Shard, batch_size: int, batch_bytes: int, meter: ByteMeter | None = None) -> Iterator[SourceBatch]:
    header = csv_header(shard.location)
    if not header:
        return
    with _arrow_source(shard, meter) as source:
        yield from _csv_batches(source, header, batch_size, batch_bytes)


def _csv_batches(
    source: str | IO[bytes], header: list[str], batch_size: int, batch_bytes: int
) -> Iterator[SourceBatch]:
    bad_rows: list[RowFailure] = []

    def on_invalid(row: Any) -> str:
        text = str(row.text)
        bad_rows.append(RowFailure("malformed_csv", text.encode("utf-8", "surrogateescape"), _csv_fields(header, text)))
        return "skip"

    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=max(1 << 16, min(1 << 22, batch_bytes))),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), check_utf8=False, strings_can_be_null=False
        ),
    )
    for records in reader:
        for start in range(0, records.num_rows, batch_size):
            yield SourceBatch(records=records.slice(start, batch_size))
    if bad_rows:
        empty = pa.RecordBatch.from_pydict(
            {name: pa.nulls(len(bad_rows), pa.string()) for name in header},
        )
        yield SourceBatch(records=empty, failures=list(enumerate(bad_rows)))


def _read_webdataset(
    shard: Shard, batch_size: int, batch_bytes: int, meter: ByteMeter | None = None
) -> Iterator[SourceBatch]:
    """WebDataset tar (plain or compressed): samples grouped by :func:`.webdataset.read_tar`."""
    with _open_counted(shard, meter) as raw:
        yield from webdataset.read_tar(raw, batch_size, batch_bytes)


def _read_images(
    shard: Shard, batch_size: int, batch_bytes: int, meter: ByteMeter | None = None
) -> Iterator[SourceBatch]:
    """Rows naming the files (the normaliser reads them): ``batch_size`` files or about ``batch_bytes`` of them
    (object-store members by count only: their sizes are not listed)."""
    if shard.url is not None:
        for start in range(0, len(shard.members), batch_size):
            names = shard.members[start : start + batch_size]
            yield SourceBatch(rows=[{"id": name, "image": {"path": name}} for name in names])
        return
    assert isinstance(shard.root, Path)
    rows: list[dict[str, Any] | RowFailure] = []
    held = 0
    for path in shard.files:
        relative = path.relative_to(shard.root)
        rows.append({"id": relative.as_posix(), "image": {"path": str(relative)}})
        with contextlib.suppress(OSError):  # the normaliser reports a missing file
            held += path.stat().st_size
        if len(rows) >= batch_size or held >= batch_bytes:
            yield SourceBatch(rows=rows)
            rows, held = [], 0
    if rows:
        yield SourceBatch(rows=rows)


def _read_hf(shard: Shard, batch_size: int, batch_bytes: int, meter: ByteMeter | None = None) -> Iterator[SourceBatch]:
    """Arrow batches of one ``datasets`` shard, cut to ``batch_bytes``."""
    for batch in hf.read(dict(shard.hf_args), shard.hf_shard, shard.shard_id, batch_size):
        assert batch.records is not None
        for part in split_by_bytes(batch.records, batch_bytes):
            yield SourceBatch(records=part)


READERS = {
    "parquet": _read_parquet,
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "webdataset": _read_webdataset,
    "images": _read_images,
    "hf": _read_hf,
}
