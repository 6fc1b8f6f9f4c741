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
same bytes. A committed shard is never rewritten. In an object store (an
output URL, see :mod:`datahygiene.io.rundir`) the files are PUT under their
final names instead of renamed, and the commit record names them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.core import columns as C
from datahygiene.io.lease import LockLostError
from datahygiene.io.rundir import (
    ROUTES,
    NotARunError,
    RunDir,
    RunLock,
    atomic_write_bytes,
    atomic_write_json,
    fsync_dir,
    json_bytes,
    sha256_file,
)
from datahygiene.io.storage import Store

__all__ = [
    "ROUTES",
    "NotARunError",
    "OutputFile",
    "RunDir",
    "RunLock",
    "ShardWriter",
    "atomic_write_bytes",
    "atomic_write_json",
    "file_provenance",
    "fsync_dir",
    "hf_features_metadata",
    "release_unused_memory",
    "sha256_file",
]

log = logging.getLogger(__name__)
_ROW_GROUP_ROWS = 65_536
#: A row group is also cut at this many bytes of Arrow data (long documents: memory stays bounded).
_ROW_GROUP_BYTES = 16 << 20


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

    def __init__(self, limit: int = 1) -> None:
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
        self._pending_bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self._pending_bytes += batch.nbytes
        self.rows += batch.num_rows
        if self._pending_rows >= _ROW_GROUP_ROWS or self._pending_bytes >= _ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending)
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0
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
    """Two-phase writer of one input shard's outputs.

    ``tag`` names the staging folder of this attempt (``_tmp/NNNNN<tag>``): commit tasks running on workers
    give each attempt its own, so a task left running by a killed run never writes into a newer attempt's files.
    """

    run: RunDir
    index: int
    metadata: dict[bytes, bytes]
    tag: str = ""
    writers: dict[str, _RouteWriter] = field(init=False)
    background: _BackgroundWrites = field(init=False)
    _finished: tuple[dict[str, list[dict[str, Any]]], list[tuple[Path, str]]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        staging = self.staging
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        self.background = _BackgroundWrites()
        self.writers = {
            route: _RouteWriter(staging / f"{route}.parquet", self.metadata, self.background) for route in ROUTES
        }

    @property
    def staging(self) -> Path:
        """This attempt's staging folder."""
        return self.run.staging(self.index, self.tag)

    def write(self, route: str, batch: pa.RecordBatch) -> None:
        """Append rows to one route's file."""
        self.writers[route].write(batch)

    @property
    def state_dir(self) -> Path:
        """Where stateful stages save their snapshot for this commit."""
        path = self.staging / "state"
        path.mkdir(exist_ok=True)
        return path

    def finish(self) -> None:
        """Finish the staged files (last row groups, close, fsync) and hash them; ``commit`` publishes them."""
        if self._finished is not None:
            return
        files: dict[str, list[dict[str, Any]]] = {}
        moves: list[tuple[Path, str]] = []
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
            moves.append((writer.path, relative))
        self._finished = files, moves

    def commit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Publish the files (finishing them first if needed), then the commit record; returns the record.

        Raises when any step fails (a full disk on the last flush, a rename, the record): whatever was published
        locally is taken back first, so the shard stays uncommitted and :meth:`abort` cleans up the rest (in an
        object store, files no record names are swept by the next resume).
        """
        self.finish()
        assert self._finished is not None
        files, moves = self._finished
        if self.run.store is not None:
            return self._commit_to_store({**record, "files": files}, moves, write_record=True)
        published: list[Path] = []
        try:
            self._publish(moves, published)
            record = {**record, "files": files}
            atomic_write_json(self.run.commit_path(self.index), record)
        except BaseException:
            self._unpublish(published, record=True)
            raise
        shutil.rmtree(self.staging, ignore_errors=True)
        return record

    def publish(self, record: dict[str, Any]) -> dict[str, Any]:
        """Put every file and state file under its final name; returns the commit record naming them, unwritten.

        The shard is committed only once the record is written (:meth:`RunDir.write_commit_record`); a commit
        task on a worker publishes and the committing process writes the records, in input order. A failed
        step takes back what it published, as :meth:`commit` does.
        """
        self.finish()
        assert self._finished is not None
        files, moves = self._finished
        if self.run.store is not None:
            return self._commit_to_store({**record, "files": files}, moves, write_record=False)
        published: list[Path] = []
        try:
            self._publish(moves, published)
        except BaseException:
            self._unpublish(published, record=False)
            raise
        shutil.rmtree(self.staging, ignore_errors=True)
        return {**record, "files": files}

    def _publish(self, moves: list[tuple[Path, str]], published: list[Path]) -> None:
        """Rename the files and the stage state into place, noting each path as it lands."""
        for source, relative in moves:
            target = self.run.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
            published.append(target)
            fsync_dir(target.parent)
        moved = self._move_state()
        if moved is not None:
            published.append(moved)

    def _unpublish(self, published: list[Path], *, record: bool) -> None:
        """Take back what :meth:`_publish` put in place, and (``record``) a commit record that may have landed."""
        if record:
            self.run.commit_path(self.index).unlink(missing_ok=True)
        for path in reversed(published):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def _move_state(self) -> Path | None:
        """The snapshot becomes the committed state of this shard in the (work) folder; returns where, if any."""
        state = self.staging / "state"
        final_state = self.run.state_dir(self.index)
        if final_state.exists():
            shutil.rmtree(final_state)
        if not state.exists():
            return None
        final_state.parent.mkdir(parents=True, exist_ok=True)
        state.replace(final_state)
        return final_state

    def _commit_to_store(
        self, record: dict[str, Any], moves: list[tuple[Path, str]], *, write_record: bool
    ) -> dict[str, Any]:
        """Object store: PUT every part and state file, then (``write_record``) the commit record naming them
        (the commit point); a commit task of the partitioned flow leaves the record to the committing process."""
        store = self.run.store
        assert store is not None
        put: list[str] = []
        try:
            for source, relative in moves:
                store.put_file(source, relative)
                put.append(relative)
            named = self.run.upload_state(self.index, self.staging / "state")
            put += [key for key in named.values() if key.startswith(f"_state/{self.index:05d}/")]
            record = {**record, "state": named}
            if write_record:
                self.run.check_lock()
                put.append(self.run.commit_name(self.index))  # a PUT that raised may still have landed
                store.put_bytes(self.run.commit_name(self.index), json_bytes(record))
            self._move_state()
            if write_record:
                self.run.remember_state(self.index, named)
        except LockLostError:
            raise  # another run may own these names now: leave them
        except BaseException:
            self._take_back(store, put)
            raise
        shutil.rmtree(self.staging, ignore_errors=True)
        return record

    @staticmethod
    def _take_back(store: Store, keys: list[str]) -> None:
        """Remove what a failed commit PUT, the record first; stop at the first error (the next resume sweeps)."""
        for key in reversed(keys):
            try:
                store.remove([key])
            except FileNotFoundError:
                continue
            except Exception:  # noqa: BLE001 - the commit's own error is the one to report
                return

    def abort(self) -> None:
        """Drop everything written for this shard."""
        for writer in self.writers.values():
            writer.abort()
        self.background.shutdown()
        shutil.rmtree(self.staging, ignore_errors=True)


PROVENANCE_KEY = b"datahygiene"


def file_provenance(path: Path | IO[bytes]) -> dict[str, Any]:
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
