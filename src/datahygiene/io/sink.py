"""Output directory layout and the two-phase shard commit.

Layout of a run directory::

    kept/part-NNNNN.parquet         rows the policy kept
    rejected/part-NNNNN.parquet     rows with at least one reject reason
    quarantined/part-NNNNN.parquet  rows routed aside by a quarantine rule
    manifest.json                   counts, reasons, files, hashes, models
    _run.json                       identity of the run (config hash, inputs)
    _commits/NNNNN.json             one record per committed input shard
    _state/NNNNN/                   stage state saved with that commit
    _tmp/                           work in progress, never read

A shard's files are written under ``_tmp``, fsynced, renamed into place, and
only then is its commit record written (atomically). A shard without a commit
record is not committed, whatever files exist; a rerun rewrites them with the
same bytes. A committed shard is never rewritten.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.core import columns as C

log = logging.getLogger(__name__)

ROUTES = ("kept", "rejected", "quarantined")
_ROW_GROUP_ROWS = 65_536


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any) -> None:
    """Write pretty, key-sorted JSON atomically."""
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class OutputFile:
    """A committed Parquet file: path relative to the run directory, rows, hash."""

    path: str
    rows: int
    sha256: str


class _BackgroundWrites:
    """One writer thread per shard: Parquet encoding overlaps with scoring.

    pyarrow releases the GIL while it encodes and compresses, so on a
    multi-core machine the next batch is processed while the last is written.
    At most ``limit`` row groups wait, which bounds memory.
    """

    def __init__(self, limit: int = 2) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._pending: deque[Future[None]] = deque()
        self._limit = limit

    def submit(self, work: Callable[[], None]) -> None:
        while len(self._pending) >= self._limit:
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(work))

    def drain(self) -> None:
        """Wait for every submitted write; re-raises the first failure."""
        while self._pending:
            self._pending.popleft().result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _write_row_group(writer: pq.ParquetWriter, table: pa.Table) -> None:
    writer.write_table(table, row_group_size=_ROW_GROUP_ROWS)
    release_unused_memory()


def release_unused_memory() -> None:
    """Hand the calling thread's freed Arrow buffers back to the OS.

    The default (mimalloc) pool otherwise keeps them, and the run's peak RSS
    creeps up with the number of batches (1M rows: +50 MiB) though live Arrow
    memory stays flat.
    """
    pa.default_memory_pool().release_unused()


class _RouteWriter:
    """Streams one route's rows of one shard into a temporary Parquet file."""

    def __init__(self, path: Path, metadata: dict[bytes, bytes], background: _BackgroundWrites) -> None:
        self.path = path
        self.metadata = metadata
        self.background = background
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= _ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending)
        self._pending, self._pending_rows = [], 0
        if self._writer is None:
            schema = table.schema.with_metadata({**(table.schema.metadata or {}), **self.metadata})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(
                self.path,
                schema,
                compression="zstd",
                write_statistics=True,
                use_dictionary=[name for name in schema.names if name != C.SOURCE_ROW],
                column_encoding={C.SOURCE_ROW: "DELTA_BINARY_PACKED"},
            )
        writer = self._writer
        table = table.replace_schema_metadata(writer.schema.metadata)
        self.background.submit(lambda: _write_row_group(writer, table))

    def close(self) -> bool:
        """Finish the file; returns whether a file was written."""
        self._flush()
        self.background.drain()
        if self._writer is None:
            return False
        self._writer.close()
        with self.path.open("rb+") as handle:
            os.fsync(handle.fileno())
        return True

    def abort(self) -> None:
        try:
            self.background.drain()
        except Exception:  # noqa: BLE001 - the shard is being dropped anyway
            log.debug("discarding a failed background write of %s", self.path)
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - e.g. the disk is still full; the file is removed next
                log.debug("discarding an unfinished %s", self.path)
        self.path.unlink(missing_ok=True)


@dataclass
class ShardWriter:
    """Two-phase writer of one input shard's outputs."""

    run: RunDir
    index: int
    metadata: dict[bytes, bytes]
    writers: dict[str, _RouteWriter] = field(init=False)
    background: _BackgroundWrites = field(init=False)

    def __post_init__(self) -> None:
        staging = self.run.staging(self.index)
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        self.background = _BackgroundWrites()
        self.writers = {
            route: _RouteWriter(staging / f"{route}.parquet", self.metadata, self.background) for route in ROUTES
        }

    def write(self, route: str, batch: pa.RecordBatch) -> None:
        """Append rows to one route's file."""
        self.writers[route].write(batch)

    @property
    def state_dir(self) -> Path:
        """Where stateful stages save their snapshot for this commit."""
        path = self.run.staging(self.index) / "state"
        path.mkdir(exist_ok=True)
        return path

    def commit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Publish the files, then the commit record; returns the record with file entries.

        Raises when any step fails (a full disk on the last flush, a rename, the record): whatever was published
        is taken back first, so the shard stays uncommitted and :meth:`abort` cleans up the rest.
        """
        files: dict[str, list[dict[str, Any]]] = {}
        moves: list[tuple[Path, Path]] = []
        try:
            written = {route: writer.close() for route, writer in self.writers.items()}
        finally:
            self.background.shutdown()
        for route, writer in self.writers.items():
            files[route] = []
            if not written[route]:
                continue
            relative = f"{route}/{self.run.part_name(self.index)}"
            files[route].append({"path": relative, "rows": writer.rows, "sha256": sha256_file(writer.path)})
            moves.append((writer.path, self.run.root / relative))
        published: list[Path] = []
        try:
            self._publish(moves, published)
            record = {**record, "files": files}
            atomic_write_json(self.run.commit_path(self.index), record)
        except BaseException:
            self._unpublish(published)
            raise
        shutil.rmtree(self.run.staging(self.index), ignore_errors=True)
        return record

    def _publish(self, moves: list[tuple[Path, Path]], published: list[Path]) -> None:
        """Rename the files and the stage state into place, noting each path as it lands."""
        for source, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
            published.append(target)
            fsync_dir(target.parent)
        state = self.run.staging(self.index) / "state"
        final_state = self.run.state_dir(self.index)
        if final_state.exists():
            shutil.rmtree(final_state)
        if state.exists():
            final_state.parent.mkdir(parents=True, exist_ok=True)
            state.replace(final_state)
            published.append(final_state)

    def _unpublish(self, published: list[Path]) -> None:
        """Take back what :meth:`_publish` put in place, and a commit record that may have landed."""
        self.run.commit_path(self.index).unlink(missing_ok=True)
        for path in reversed(published):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop everything written for this shard."""
        for writer in self.writers.values():
            writer.abort()
        self.background.shutdown()
        shutil.rmtree(self.run.staging(self.index), ignore_errors=True)


class NotARunError(FileNotFoundError):
    """The directory holds no readable ``manifest.json``: not a finished run."""


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run's output directory."""

    root: Path

    def part_name(self, index: int) -> str:
        return f"part-{index:05d}.parquet"

    def staging(self, index: int) -> Path:
        return self.root / "_tmp" / f"{index:05d}"

    def state_dir(self, index: int) -> Path:
        return self.root / "_state" / f"{index:05d}"

    def commit_path(self, index: int) -> Path:
        return self.root / "_commits" / f"{index:05d}.json"

    @property
    def identity_path(self) -> Path:
        return self.root / "_run.json"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def read_manifest(self) -> dict[str, Any]:
        """The finished run's manifest; :class:`NotARunError` (one line) when there is none or it is not JSON."""
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotARunError(f"{self.root} has no manifest.json (not a finished run?)") from None
        except NotADirectoryError:
            raise NotARunError(f"{self.root} is not a directory (not a run's output?)") from None
        except (UnicodeDecodeError, ValueError) as error:
            raise NotARunError(f"{self.manifest_path} is not a valid manifest: {error}") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
            raise NotARunError(f"{self.manifest_path} is not a datahygiene manifest")
        return manifest

    def committed(self) -> dict[int, dict[str, Any]]:
        """Commit records by shard index."""
        records: dict[int, dict[str, Any]] = {}
        directory = self.root / "_commits"
        if directory.is_dir():
            for path in sorted(directory.glob("*.json")):
                records[int(path.stem)] = json.loads(path.read_text())
        return records

    def lock(self) -> int:
        """Hold the run's lock (released when the returned descriptor closes or the process dies).

        Raises ``BlockingIOError`` when another process holds it: two runs
        committing into one directory would break exactly-once.
        """
        path = self.root / "_tmp" / "lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            raise
        return descriptor

    def is_empty(self) -> bool:
        """No output yet; work in progress (``_tmp``, e.g. shards a flow scored before it crashed) does not count."""
        return not self.root.exists() or all(path.name == "_tmp" for path in self.root.iterdir())


PROVENANCE_KEY = b"datahygiene"


def file_provenance(path: Path) -> dict[str, Any]:
    """The provenance a run wrote into one output file's Parquet key-value metadata.

    Holds ``version``, ``config_sha256``, ``shard`` (``index``, ``id``, ``kind``,
    ``fingerprint`` of the input shard the rows came from), ``models`` and
    ``policy``; empty when the file carries none. With the rows' ``source_row``
    this traces any output row back to its input row.
    """
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(PROVENANCE_KEY)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def hf_features_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """Schema metadata that makes ``datasets`` load the ``image`` column as images.

    Only the canonical columns are declared; ``datasets`` infers the rest from
    the Arrow types.
    """
    features: dict[str, Any] = {
        C.ID: {"dtype": "string", "_type": "Value"},
        C.TEXT: {"dtype": "string", "_type": "Value"},
        C.IMAGE: {"_type": "Image"},
    }
    del schema  # the declared subset does not depend on the stage columns
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
