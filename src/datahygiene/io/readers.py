"""Streaming readers of one shard: each yields :class:`~datahygiene.io.sources.SourceBatch` objects in input
order, at most ``batch_size`` rows and about ``batch_bytes`` bytes each, and never drops a row."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datahygiene.io.rows import IMAGE_SUFFIXES, RowFailure, SourceBatch, load_hf, parse_json_line
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


@contextmanager
def _arrow_source(shard: Shard) -> Iterator[str | IO[bytes]]:
    """What pyarrow opens: a local path as is (its native reader), a URL as an fsspec file."""
    if shard.url is None:
        assert shard.path is not None
        yield str(shard.path)
        return
    with open_binary(shard.url) as handle:
        yield handle


def _open_lines(handle: IO[bytes], name: str) -> IO[bytes]:
    if name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(handle, "rb"))
    return handle


def _read_parquet(shard: Shard, batch_size: int, batch_bytes: int) -> Iterator[SourceBatch]:
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


def _read_jsonl(shard: Shard, batch_size: int, batch_bytes: int) -> Iterator[SourceBatch]:
    """Whole lines, about ``batch_bytes`` at a time (a longer line is read whole), at most ``batch_size`` lines."""
    with open_binary(shard.location) as raw, _open_lines(raw, str(shard.location)) as handle:
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


def _csv_header(location: Path | str) -> list[str]:
    import csv
    import io

    with open_binary(location) as raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as handle:
        return next(csv.reader(handle), [])


def _read_csv(shard: Shard, batch_size: int, batch_bytes: int) -> Iterator[SourceBatch]:
    header = _csv_header(shard.location)
    if not header:
        return
    with _arrow_source(shard) as source:
        yield from _csv_batches(source, header, batch_size, batch_bytes)


def _csv_batches(
    source: str | IO[bytes], header: list[str], batch_size: int, batch_bytes: int
) -> Iterator[SourceBatch]:
    bad_rows: list[RowFailure] = []

    def on_invalid(row: Any) -> str:
        bad_rows.append(RowFailure("malformed_csv", str(row.text).encode("utf-8", "surrogateescape")))
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


def _read_webdataset(shard: Shard, batch_size: int, batch_bytes: int) -> Iterator[SourceBatch]:
    """WebDataset tar: members ``KEY.EXT`` grouped by key into one sample each (batches end at
    ``batch_size`` samples or about ``batch_bytes`` of member data)."""
    rows: list[dict[str, Any] | RowFailure] = []
    current_key: str | None = None
    sample: dict[str, Any] = {}
    held = 0
    with open_binary(shard.location) as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            directory, _, base = member.name.rpartition("/")
            key, dot, extension = base.partition(".")
            if not dot:
                continue
            key = f"{directory}/{key}" if directory else key
            if key != current_key:
                if sample:
                    rows.append(_webdataset_sample(sample))
                current_key, sample = key, {"__key__": key}
            handle = archive.extractfile(member)
            sample[extension.lower()] = handle.read() if handle is not None else b""
            held += member.size
            if len(rows) >= batch_size or (rows and held >= batch_bytes):
                yield SourceBatch(rows=rows)
                rows, held = [], sum(len(v) for v in sample.values() if isinstance(v, bytes))
    if sample:
        rows.append(_webdataset_sample(sample))
    if rows:
        yield SourceBatch(rows=rows)


_WDS_TEXT = ("txt", "text", "caption")


def _webdataset_sample(members: dict[str, Any]) -> dict[str, Any] | RowFailure:
    """Name a sample's members by role: the first image extension becomes ``image``,
    the first text member ``text``, and a ``json`` member's fields are merged in."""
    sample: dict[str, Any] = {"__key__": members.pop("__key__")}
    for extension in list(members):
        if "." + extension.rsplit(".", 1)[-1] in IMAGE_SUFFIXES and "image" not in sample:
            sample["image"] = members.pop(extension)
        elif extension in _WDS_TEXT and "text" not in sample:
            sample["text"] = members.pop(extension)
    if "json" in members:
        parsed = parse_json_line(members.pop("json"))
        if isinstance(parsed, RowFailure):
            return parsed
        sample.update({k: v for k, v in parsed.items() if k not in sample})
    sample.update(members)
    return sample


def _read_images(shard: Shard, batch_size: int, batch_bytes: int) -> Iterator[SourceBatch]:
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


def _read_hf(shard: Shard, batch_size: int, batch_bytes: int) -> Iterator[SourceBatch]:
    args = dict(shard.hf_args)
    dataset = load_hf(args.pop("path"), args)
    if shard.hf_shard is not None and shard.hf_shard[1] > 1:
        number, count = shard.hf_shard
        dataset = dataset.shard(num_shards=count, index=number)
    for table in dataset.with_format("arrow").iter(batch_size=batch_size):
        for records in table.to_batches():
            for part in split_by_bytes(records, batch_bytes):
                yield SourceBatch(records=part)


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


READERS = {
    "parquet": _read_parquet,
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "webdataset": _read_webdataset,
    "images": _read_images,
    "hf": _read_hf,
}
