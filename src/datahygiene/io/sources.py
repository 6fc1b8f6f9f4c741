"""Input shards: discovery from ``--input`` arguments, identity, size, and the reader of each kind.

A shard is the unit of progress and of exactly-once commits: one input file,
one chunk of an image folder, or one shard of a Hugging Face dataset. Every
reader (:mod:`.readers`; WebDataset tars in :mod:`.webdataset`, ``hf:`` datasets
in :mod:`.hf`) yields :class:`SourceBatch` objects in input order, bounded in
rows and bytes, and never drops a row: a line that cannot be parsed becomes a
row with ``failure`` set.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.io import hf, remote
from datahygiene.io.batches import DEFAULT_BATCH_BYTES as DEFAULT_BATCH_BYTES
from datahygiene.io.batches import IMAGE_SUFFIXES as IMAGE_SUFFIXES
from datahygiene.io.batches import ByteMeter as ByteMeter
from datahygiene.io.batches import RowFailure as RowFailure
from datahygiene.io.batches import SourceBatch as SourceBatch
from datahygiene.io.batches import parse_json_line as parse_json_line
from datahygiene.io.localfiles import Folder
from datahygiene.io.readers import READERS
from datahygiene.io.storage import is_url, open_binary

log = logging.getLogger(__name__)

ShardKind = Literal["parquet", "jsonl", "csv", "webdataset", "images", "hf"]
#: How a shard's identity is taken: ``stat`` (path, size, mtime: free) or ``content`` (a hash of every byte).
FingerprintMode = Literal["stat", "content"]

_DATA_SUFFIXES: dict[str, ShardKind] = {
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tar": "webdataset",
    ".tar.gz": "webdataset",
    ".tgz": "webdataset",
}


class InputError(ValueError):
    """An ``--input`` argument that names nothing readable."""


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
    fingerprint_mode: FingerprintMode = "stat"

    @property
    def location(self) -> Path | str:
        """The data file to open: a local path or a URL."""
        location = self.url if self.url is not None else self.path
        assert location is not None
        return location

    def fingerprint(self) -> str:
        """Identity of the shard's content: path, size and mtime of every file (size and ETag for URLs), or
        (``content``) path, size and an xxh3-128 hash of each local file's bytes, which also sees an edit that
        kept size and mtime but ignores a touch."""
        seed = f"{self.kind}|{self.shard_id}|{self.hf_args}|{self.hf_shard}"
        if self.url is not None:
            return remote.fingerprint(seed, self.url, self.members)
        digest = hashlib.sha256(seed.encode())
        for path in self.files or ((self.path,) if self.path is not None else ()):
            stat = path.stat()
            if self.fingerprint_mode == "content":
                key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
                digest.update(f"|{path}|{stat.st_size}|xxh3_128:{_content_hash(*key)}".encode())
            else:
                digest.update(f"|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        return digest.hexdigest()

    def size(self) -> int:
        """Bytes of the shard's input files or objects (0 for a ``datasets`` shard): the progress bar's total."""
        if self.url is not None:
            return remote.total_size(self.url, self.members)
        paths = self.files or ((self.path,) if self.path is not None and self.path.is_file() else ())
        return sum(path.stat().st_size for path in paths)

    def known_rows(self) -> int | None:
        """The row count where it is known up front (Parquet footer, files of an image folder), else None.

        A hint (the id table's size, the progress bar's total), not checked.
        """
        if self.kind == "images":
            return len(self.members) if self.url is not None else len(self.files)
        if self.kind != "parquet" or (self.path is None and self.url is None):
            return None
        try:
            with open_binary(self.location) as handle:
                rows: int = pq.read_metadata(handle).num_rows
        except (OSError, pa.ArrowException):
            return None  # reading the shard reports the problem
        return rows

    def read(
        self, batch_size: int, batch_bytes: int = DEFAULT_BATCH_BYTES, meter: ByteMeter | None = None
    ) -> Iterator[SourceBatch]:
        """Stream the shard's rows in batches of at most ``batch_size`` rows and about ``batch_bytes`` bytes
        (see :mod:`.readers`); ``meter`` counts the bytes read from the shard's files."""
        return READERS[self.kind](self, batch_size, batch_bytes, meter)


@functools.lru_cache(maxsize=1 << 16)
def _content_hash(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    """xxh3-128 of a file's bytes, streamed; cached per process while the file's stat stays the same."""
    import xxhash

    del size, mtime_ns, ctime_ns, inode  # the cache key: any write changes ctime
    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:  # noqa: PTH123 - a str path from the cache key
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


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
    skipped: list[Path] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if _kind_of(path) is not None:
            data_files.append(path)
        elif _is_image(path):
            images.append(path)
        else:
            skipped.append(path)
    _report_skipped(directory, skipped)
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


def _report_skipped(directory: Path, skipped: list[Path]) -> None:
    """Say which files of an input folder are not read (unknown types), so none is skipped in silence."""
    if not skipped:
        return
    suffixes = sorted({"".join(path.suffixes[-2:]).lower() or "(none)" for path in skipped})
    log.warning(
        "input folder %s: %d file(s) of unknown type not read (suffixes: %s; e.g. %s)",
        directory,
        len(skipped),
        ", ".join(suffixes[:10]),
        skipped[0].relative_to(directory),
    )


def _hf_shards(spec: str, start_index: int) -> list[ShardSource]:
    """``hf:PATH?name=..&split=..&data_files=..`` -> one shard per HF dataset shard."""
    parts = urlsplit(spec[len("hf:") :])
    path = parts.path
    args = tuple(sorted(parse_qsl(parts.query)))
    if not path:
        raise InputError(f"{spec}: expected hf:PATH[?split=...&name=...&data_files=...]")
    dataset = hf.load(path, dict(args))
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


def discover(
    inputs: list[str], *, images_per_shard: int = 10_000, fingerprint: FingerprintMode = "stat"
) -> list[ShardSource]:
    """Turn ``--input`` arguments (files, folders, globs, ``hf:`` specs) into shards.

    Order is deterministic: arguments in the order given, files sorted within
    each argument. A file named twice is read once. ``fingerprint`` is how
    each shard's :meth:`ShardSource.fingerprint` is taken.
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
                if kind != "images":  # an image file is never a data file: its shard needs no resolved paths
                    resolved = {f.resolve() for f in files}
                    if resolved <= seen:
                        continue
                    seen |= resolved
                shards.append(ShardSource(len(shards), kind, shard_id, path, root, files, fingerprint_mode=fingerprint))
    if not shards:
        raise InputError("no input shards found")
    return shards


def file_bytes(root: Path | str, relative: str) -> bytes:
    """Read an image path found in the data, refusing paths that leave ``root`` (a folder or a folder URL)."""
    if isinstance(root, str):
        return remote.member_bytes(root, relative)
    return Folder(root).read(relative)
