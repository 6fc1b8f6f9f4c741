"""WebDataset shards: tar members ``KEY.EXT`` grouped into samples, ``.gz`` members decompressed, labels typed.

Label members (``cls``, ``id`` ...) become integers when they are one, text members text, and fields whose
values in a shard's first batch share one scalar type become typed columns (:class:`SourceBatch.typed`).
"""

from __future__ import annotations

import contextlib
import gzip
import re
import tarfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa

from datahygiene.io.batches import DEFAULT_BATCH_BYTES, IMAGE_SUFFIXES, RowFailure, SourceBatch, parse_json_line


def read_tar(raw: IO[bytes], batch_size: int, batch_bytes: int = DEFAULT_BATCH_BYTES) -> Iterator[SourceBatch]:
    """WebDataset tar (plain or compressed) from an open file: members ``KEY.EXT`` grouped by key, one sample each.

    Every member is a column of a sample or a row of its own with reason ``tar_member:WHY`` (see :class:`_TarSamples`).
    A batch ends at ``batch_size`` rows or, holding at least one row, about ``batch_bytes`` of member data.
    """
    samples = _TarSamples()
    types = _SampleTypes()
    with tarfile.open(fileobj=raw, mode="r|*") as archive:
        for member in archive:
            if member.isdir():
                continue  # a directory holds no bytes
            if member.issym() or member.islnk():
                samples.skip(member, "link", member.linkname.encode("utf-8", "surrogateescape"))
            elif not member.isfile():
                samples.skip(member, "special", b"")
            else:
                handle = archive.extractfile(member)
                samples.add(member, handle.read() if handle is not None else b"")
            rows = samples.batch.num_rows
            if rows >= batch_size or (rows and samples.held >= batch_bytes):
                yield samples.take(types)
    samples.end_sample()
    if samples.batch.num_rows:
        yield samples.take(types)


class _TarSamples:
    """Groups consecutive tar members of one key into a sample.

    A member that cannot be a column of a sample (a link, a device or other special file, a name without
    extension, a second member of the same name) becomes a row of its own, id its name, reason
    ``tar_member:WHY``, its bytes (a link: its target) in ``raw``. Nothing in the tar goes uncounted.
    """

    def __init__(self) -> None:
        self.batch = SourceBatch(rows=[])
        self.key: str | None = None
        self.sample: dict[str, Any] = {}
        #: Member bytes held: the batch's rows and the sample being grouped.
        self.held = 0

    def add(self, member: tarfile.TarInfo, data: bytes) -> None:
        """A regular member: a column of its key's sample, or a row of its own."""
        directory, _, base = member.name.rpartition("/")
        key, dot, extension = base.partition(".")
        if not dot:
            self.skip(member, "no_extension", data)
            return
        key = f"{directory}/{key}" if directory else key
        if key != self.key:
            self.end_sample()
            self.key, self.sample = key, {"__key__": key}
        if extension.lower() in self.sample:
            self.skip(member, "duplicate", data)
        else:
            self.sample[extension.lower()] = data
            self.held += len(data)

    def skip(self, member: tarfile.TarInfo, why: str, raw: bytes) -> None:
        """A member that is no column: a row with reason ``tar_member:WHY``."""
        assert self.batch.rows is not None
        self.batch.rows.append(RowFailure(f"tar_member:{why}", raw, {"__key__": member.name}))
        self.held += len(raw)

    def end_sample(self) -> None:
        """Add the sample being grouped to the batch."""
        if not self.sample:
            return
        assert self.batch.rows is not None
        row, failure = _webdataset_sample(self.sample)
        if failure is not None:
            self.batch.failures.append((len(self.batch.rows), failure))
        self.batch.rows.append(row)
        self.sample = {}

    def take(self, types: _SampleTypes) -> SourceBatch:
        """The rows so far, with the shard's typed fields (the sample being grouped stays for the next batch)."""
        batch, self.batch = self.batch, SourceBatch(rows=[])
        self.held = sum(len(value) for value in self.sample.values() if isinstance(value, bytes))
        assert batch.rows is not None
        batch.typed = types.of(batch.rows)
        return batch


_WDS_TEXT = ("txt", "text", "caption")
#: Members that hold one label, index or count as text (WebDataset's conventions): read as an integer when
#: they are one, else as text.
_WDS_LABELS = frozenset({"cls", "cls2", "class", "label", "count", "index", "inx", "id"})
#: Members that hold text.
_WDS_STRINGS = frozenset({*_WDS_TEXT, "transcript", "md", "html", "url"})
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")


def _gunzip_members(members: dict[str, Any]) -> RowFailure | None:
    """Decompress ``.gz`` members in place (``txt.gz`` becomes ``txt``); a corrupt one fails the sample."""
    for extension in [name for name in members if name.endswith(".gz")]:
        data = members.pop(extension)
        try:
            members.setdefault(extension[: -len(".gz")], gzip.decompress(data))
        except (OSError, EOFError, zlib.error):
            return RowFailure("malformed_gzip", data)
    return None


def _label_value(data: bytes) -> int | str | bytes:
    """A label member's value: an integer when it is one, else its text (bytes when not UTF-8)."""
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return data
    return int(text) if _INTEGER.match(text) else text


def _typed_members(members: dict[str, Any]) -> None:
    """Label members as integers or text, text members as text (in place; other members stay bytes)."""
    for extension, data in members.items():
        if not isinstance(data, bytes):
            continue
        if extension in _WDS_LABELS:
            members[extension] = _label_value(data)
        elif extension in _WDS_STRINGS:
            with contextlib.suppress(UnicodeDecodeError):  # else kept as bytes: normalisation flags it
                members[extension] = data.decode("utf-8")


def _webdataset_sample(members: dict[str, Any]) -> tuple[dict[str, Any], RowFailure | None]:
    """Name a sample's members by role: the first image extension becomes ``image``,
    the first text member ``text``, and a ``json`` member's fields are merged in.

    ``.gz`` members are decompressed first; label and text members are decoded (see :func:`_typed_members`).
    A corrupt ``.gz`` or unreadable ``json`` member is returned as the sample's failure; the sample keeps its
    other members (and so its id).
    """
    sample: dict[str, Any] = {"__key__": members.pop("__key__")}
    failure = _gunzip_members(members)
    for extension in list(members):
        if "." + extension.rsplit(".", 1)[-1] in IMAGE_SUFFIXES and "image" not in sample:
            sample["image"] = members.pop(extension)
        elif extension in _WDS_TEXT and "text" not in sample:
            sample["text"] = members.pop(extension)
    if "json" in members:
        parsed = parse_json_line(members.pop("json"))
        if isinstance(parsed, RowFailure):
            failure = failure or parsed
        else:
            sample.update({k: v for k, v in parsed.items() if k not in sample})
    _typed_members(members)
    sample.update(members)
    return sample, failure


_SCALAR_TYPES: tuple[tuple[type, pa.DataType], ...] = (
    (bool, pa.bool_()),
    (int, pa.int64()),
    (float, pa.float64()),
    (str, pa.string()),
)


def _scalar_type(values: list[Any]) -> pa.DataType | None:
    """The one Arrow type of a field's non-null values (ints widen to float), or None when they are mixed."""
    kinds = {type(value) for value in values if value is not None}
    if kinds == {int, float}:
        kinds = {float}
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    if kind is int and not all(-(2**63) <= value < 2**63 for value in values if value is not None):
        return None
    return next((arrow for python, arrow in _SCALAR_TYPES if kind is python), None)


class _SampleTypes:
    """Column types of a WebDataset shard's sample fields, inferred from its first batch and then kept."""

    def __init__(self) -> None:
        self.types: dict[str, pa.DataType] | None = None

    def of(self, rows: list[dict[str, Any] | RowFailure]) -> dict[str, pa.DataType]:
        """Field -> type for every field whose values in the first batch are all one scalar type."""
        if self.types is None:
            values: dict[str, list[Any]] = {}
            for row in rows:
                if isinstance(row, dict):
                    for name, value in row.items():
                        values.setdefault(name, []).append(value)
            self.types = {}
            for name, found in values.items():
                kind = _scalar_type(found)
                if kind is not None:
                    self.types[name] = kind
        return self.types
