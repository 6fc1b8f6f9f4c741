"""Input shards: discovery from ``--input`` arguments and streaming readers.

A shard is the unit of progress and of exactly-once commits: one input file,
one chunk of an image folder, or one shard of a Hugging Face dataset. Every
reader yields :class:`SourceBatch` objects in input order and never drops a
row: a line that cannot be parsed becomes a row with ``failure`` set.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, cast
from urllib.parse import parse_qsl, urlsplit

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datahygiene.io import remote
from datahygiene.io.storage import is_url, open_binary

ShardKind = Literal["parquet", "jsonl", "csv", "webdataset", "images", "hf"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
_DATA_SUFFIXES: dict[str, ShardKind] = {
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tar": "webdataset",
}


class InputError(ValueError):
    """An ``--input`` argument that names nothing readable."""


@dataclass(frozen=True)
class RowFailure:
    """Why a row could not be parsed, with its original bytes."""

    reason: str
    raw: bytes


@dataclass
class SourceBatch:
    """Rows as read. ``records`` is columnar; ``rows`` is used by row-based formats.

    Exactly one of ``records`` and ``rows`` is set. In ``rows``, a failed row is a
    :class:`RowFailure`; in columnar batches failures are listed in ``failures``
    as (row index, failure) and their record values are null.
    """

    records: pa.RecordBatch | None = None
    rows: list[dict[str, Any] | RowFailure] | None = None
    failures: list[tuple[int, RowFailure]] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        if self.records is not None:
            rows: int = self.records.num_rows
            return rows
        return len(self.rows or [])


@dataclass(frozen=True)
class ShardSource:
    """One input shard."""

    index: int
    kind: ShardKind
    shard_id: str
    path: Path | None
    #: Where relative image paths in the rows resolve: a local folder, or a folder URL.
    root: Path | str | None
    files: tuple[Path, ...] = ()
    hf_args: tuple[tuple[str, str], ...] = ()
    hf_shard: tuple[int, int] | None = None
    #: An object-store shard: the data file's URL, or the image folder's URL with ``members`` under it.
    url: str | None = None
    members: tuple[str, ...] = ()

    @property
    def location(self) -> Path | str:
        """The data file to open: a local path or a URL."""
        location = self.url if self.url is not None else self.path
        assert location is not None
        return location

    def fingerprint(self) -> str:
        """Identity of the shard's content: path, size and mtime of every file (size and ETag for URLs)."""
        seed = f"{self.kind}|{self.shard_id}|{self.hf_args}|{self.hf_shard}"
        if self.url is not None:
            return remote.fingerprint(seed, self.url, self.members)
        digest = hashlib.sha256(seed.encode())
        for path in self.files or ((self.path,) if self.path is not None else ()):
            stat = path.stat()
            digest.update(f"|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        return digest.hexdigest()

    def known_rows(self) -> int | None:
        """The row count where the format stores it (Parquet footer), else None; a hint, not checked."""
        if self.kind != "parquet" or (self.path is None and self.url is None):
            return None
        try:
            with open_binary(self.location) as handle:
                rows: int = pq.read_metadata(handle).num_rows
        except (OSError, pa.ArrowException):
            return None  # reading the shard reports the problem
        return rows

    def read(self, batch_size: int) -> Iterator[SourceBatch]:
        """Stream the shard's rows in batches of at most ``batch_size``."""
        readers = {
            "parquet": _read_parquet,
            "jsonl": _read_jsonl,
            "csv": _read_csv,
            "webdataset": _read_webdataset,
            "images": _read_images,
            "hf": _read_hf,
        }
        return readers[self.kind](self, batch_size)


def _kind_of_name(name: str) -> ShardKind | None:
    name = name.lower()
    for suffix, kind in _DATA_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return None


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _kind_of(path: Path) -> ShardKind | None:
    return _kind_of_name(path.name)


def _is_image(path: Path) -> bool:
    return _is_image_name(path.name)


def _remote_shards(argument: str, images_per_shard: int, start: int, seen: set[str]) -> list[ShardSource]:
    """Shards of an input URL (file, folder or glob in an object store)."""
    shards: list[ShardSource] = []
    try:
        found = remote.expand(argument, images_per_shard, _kind_of_name, _is_image_name)
    except remote.NothingFoundError as error:
        raise InputError(str(error)) from None
    for kind, url, root, members in found:
        if kind != "images":
            if url in seen:
                continue
            seen.add(url)
        shard = ShardSource(start + len(shards), cast(ShardKind, kind), url, None, root, url=url, members=members)
        if kind == "images":
            shard = ShardSource(shard.index, "images", url, None, root, url=root, members=members)
        shards.append(shard)
    return shards


def _expand_directory(
    directory: Path, images_per_shard: int
) -> list[tuple[ShardKind, str, Path, Path, tuple[Path, ...]]]:
    data_files: list[Path] = []
    images: list[Path] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if _kind_of(path) is not None:
            data_files.append(path)
        elif _is_image(path):
            images.append(path)
    found: list[tuple[ShardKind, str, Path, Path, tuple[Path, ...]]] = []
    for path in data_files:
        kind = _kind_of(path)
        assert kind is not None
        found.append((kind, str(path), path, path.parent, (path,)))
    for start in range(0, len(images), images_per_shard):
        chunk = tuple(images[start : start + images_per_shard])
        shard_id = f"{directory}#{start // images_per_shard:05d}"
        found.append(("images", shard_id, directory, directory, chunk))
    return found


def _hf_shards(spec: str, start_index: int) -> list[ShardSource]:
    """``hf:PATH?name=..&split=..&data_files=..`` -> one shard per HF dataset shard."""
    parts = urlsplit(spec[len("hf:") :])
    path = parts.path
    args = tuple(sorted(parse_qsl(parts.query)))
    if not path:
        raise InputError(f"{spec}: expected hf:PATH[?split=...&name=...&data_files=...]")
    dataset = _load_hf(path, dict(args))
    count = max(1, int(getattr(dataset, "num_shards", getattr(dataset, "n_shards", 1))))
    return [
        ShardSource(
            index=start_index + number,
            kind="hf",
            shard_id=f"{spec}#{number:05d}" if count > 1 else spec,
            path=None,
            root=Path(path) if Path(path).exists() else None,
            hf_args=(("path", path), *args),
            hf_shard=(number, count),
        )
        for number in range(count)
    ]


def discover(inputs: list[str], *, images_per_shard: int = 10_000) -> list[ShardSource]:
    """Turn ``--input`` arguments (files, folders, globs, ``hf:`` specs) into shards.

    Order is deterministic: arguments in the order given, files sorted within
    each argument. A file named twice is read once.
    """
    shards: list[ShardSource] = []
    seen: set[Path] = set()
    seen_urls: set[str] = set()
    for argument in inputs:
        if argument.startswith("hf:"):
            shards.extend(_hf_shards(argument, len(shards)))
            continue
        if is_url(argument):
            shards.extend(_remote_shards(argument, images_per_shard, len(shards), seen_urls))
            continue
        if glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument, recursive=True))  # noqa: PTH207 (absolute patterns)
        else:
            matches = [Path(argument)]
        if not matches or not all(m.exists() for m in matches):
            raise InputError(f"input {argument!r} matches no file or folder")
        for match in matches:
            if match.is_dir():
                entries = _expand_directory(match, images_per_shard)
                if not entries:
                    raise InputError(f"input folder {str(match)!r} holds no readable data files or images")
            else:
                kind = _kind_of(match)
                if kind is None:
                    if _is_image(match):
                        entries = [("images", str(match), match.parent, match.parent, (match,))]
                    else:
                        known = ", ".join(sorted(_DATA_SUFFIXES))
                        raise InputError(f"input {str(match)!r} has an unsupported type (known: {known}, images)")
                else:
                    entries = [(kind, str(match), match, match.parent, (match,))]
            for kind, shard_id, path, root, files in entries:
                resolved = {f.resolve() for f in files}
                if kind != "images" and resolved <= seen:
                    continue
                seen |= resolved
                shards.append(ShardSource(len(shards), kind, shard_id, path, root, files))
    if not shards:
        raise InputError("no input shards found")
    return shards


# --- readers -----------------------------------------------------------------


@contextmanager
def _arrow_source(shard: ShardSource) -> Iterator[str | IO[bytes]]:
    """What pyarrow opens: a local path as is (its native reader), a URL as an fsspec file."""
    if shard.url is None:
        assert shard.path is not None
        yield str(shard.path)
        return
    with open_binary(shard.url) as handle:
        yield handle


def _read_parquet(shard: ShardSource, batch_size: int) -> Iterator[SourceBatch]:
    with _arrow_source(shard) as source, pq.ParquetFile(source) as parquet:
        for records in parquet.iter_batches(batch_size=batch_size):
            yield SourceBatch(records=records)


def _open_lines(handle: IO[bytes], name: str) -> IO[bytes]:
    if name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(handle, "rb"))
    return handle


def parse_json_line(line: bytes) -> dict[str, Any] | RowFailure:
    """Parse one JSONL line; failures say whether the bytes or the JSON are bad."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return RowFailure("invalid_utf8", line)
        try:
            value = orjson.loads(text.encode("utf-8", "surrogatepass"))
        except orjson.JSONDecodeError:
            import json

            try:
                json.loads(text)
            except ValueError:
                return RowFailure("malformed_json", line)
            # Valid JSON that orjson refuses: lone surrogates in \u escapes.
            return RowFailure("lone_surrogate", line)
    if not isinstance(value, dict):
        return RowFailure("malformed_json", line)
    return value


def _read_jsonl(shard: ShardSource, batch_size: int) -> Iterator[SourceBatch]:
    rows: list[dict[str, Any] | RowFailure] = []
    with open_binary(shard.location) as raw, _open_lines(raw, str(shard.location)) as handle:
        for line in handle:
            content = line.rstrip(b"\r\n")
            if not content.strip():
                continue  # blank lines are separators, not rows
            rows.append(parse_json_line(content))
            if len(rows) >= batch_size:
                yield SourceBatch(rows=rows)
                rows = []
    if rows:
        yield SourceBatch(rows=rows)


def _csv_header(location: Path | str) -> list[str]:
    import csv
    import io

    with open_binary(location) as raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as handle:
        return next(csv.reader(handle), [])


def _read_csv(shard: ShardSource, batch_size: int) -> Iterator[SourceBatch]:
    header = _csv_header(shard.location)
    if not header:
        return
    with _arrow_source(shard) as source:
        yield from _csv_batches(source, header, batch_size)


def _csv_batches(source: str | IO[bytes], header: list[str], batch_size: int) -> Iterator[SourceBatch]:
    bad_rows: list[RowFailure] = []

    def on_invalid(row: Any) -> str:
        bad_rows.append(RowFailure("malformed_csv", str(row.text).encode("utf-8", "surrogateescape")))
        return "skip"

    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
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


def _read_webdataset(shard: ShardSource, batch_size: int) -> Iterator[SourceBatch]:
    """WebDataset tar: members ``KEY.EXT`` grouped by key into one sample each."""
    rows: list[dict[str, Any] | RowFailure] = []
    current_key: str | None = None
    sample: dict[str, Any] = {}
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
            if len(rows) >= batch_size:
                yield SourceBatch(rows=rows)
                rows = []
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


def _read_images(shard: ShardSource, batch_size: int) -> Iterator[SourceBatch]:
    if shard.url is not None:
        for start in range(0, len(shard.members), batch_size):
            names = shard.members[start : start + batch_size]
            yield SourceBatch(rows=[{"id": name, "image": {"path": name}} for name in names])
        return
    assert isinstance(shard.root, Path)
    for start in range(0, len(shard.files), batch_size):
        chunk = shard.files[start : start + batch_size]
        rows: list[dict[str, Any] | RowFailure] = [
            {"id": path.relative_to(shard.root).as_posix(), "image": {"path": str(path.relative_to(shard.root))}}
            for path in chunk
        ]
        yield SourceBatch(rows=rows)


def _load_hf(path: str, args: dict[str, str]) -> Any:
    import datasets

    options: dict[str, Any] = {"streaming": True, "split": args.get("split", "train")}
    if "name" in args:
        options["name"] = args["name"]
    if "data_files" in args:
        options["data_files"] = args["data_files"].split(",")
    if "data_dir" in args:
        options["data_dir"] = args["data_dir"]
    return datasets.load_dataset(path, **options)


def _read_hf(shard: ShardSource, batch_size: int) -> Iterator[SourceBatch]:
    args = dict(shard.hf_args)
    dataset = _load_hf(args.pop("path"), args)
    if shard.hf_shard is not None and shard.hf_shard[1] > 1:
        number, count = shard.hf_shard
        dataset = dataset.shard(num_shards=count, index=number)
    for table in dataset.with_format("arrow").iter(batch_size=batch_size):
        for records in table.to_batches():
            yield SourceBatch(records=records)


def file_bytes(root: Path | str, relative: str) -> bytes:
    """Read an image path found in the data, refusing paths that leave ``root`` (a folder or a folder URL)."""
    if isinstance(root, str):
        return remote.member_bytes(root, relative)
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise PermissionError(relative)
    with target.open("rb") as handle:
        return handle.read()
