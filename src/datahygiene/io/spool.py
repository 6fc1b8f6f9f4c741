"""Scored shards on disk between a worker and the committer (Arrow IPC, one record batch per scored batch).

A worker writes the records with the order-free stages' columns; each
batch's reasons and the artifacts its stages declared for the commit (embeddings,
replacement images) ride along as the batch's custom metadata, so the committer sees
exactly the batches the CLI would have held in memory; an undeclared artifact is an error. Images are not
stored: the committer decodes them again from the ``image`` bytes.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from datahygiene.core.columns import BASE_SCHEMA
from datahygiene.core.config import RunConfig
from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import ArtifactKind, ChainSummary, ScoredBatch
from datahygiene.core.timing import StageTimes
from datahygiene.io.decode import decode_batch_images

_REASONS = b"datahygiene.core.reasons"
_TIMES = b"datahygiene.times"
_ARRAY_ARTIFACT = b"datahygiene.artifact.array."
_ROWS_ARTIFACT = b"datahygiene.artifact.rows."
_SUMMARY = b"datahygiene.scoring"
_FIELDS = b"datahygiene.scoring_fields"


@dataclass(frozen=True)
class SpoolInfo:
    """What a spool file holds: rows, batches and the summary of the stages that scored it."""

    rows: int
    batches: int
    scoring: ChainSummary


def _summary_metadata(summary: ChainSummary) -> dict[bytes, bytes]:
    fields_schema = pa.schema([stage_field for _, stage_field in summary.fields])
    described = {
        "owners": [owner for owner, _ in summary.fields],
        "models": list(summary.models),
        "artifacts": [list(item) for item in summary.artifacts],
        "roles": [list(item) for item in summary.roles],
    }
    return {
        _SUMMARY: orjson.dumps(described, default=str),
        _FIELDS: base64.b64encode(fields_schema.serialize().to_pybytes()),
    }


class SpoolError(ValueError):
    """A scored batch holds an artifact the spool cannot carry: undeclared, or not of its declared kind."""


def _encode_rows(name: str, value: Any) -> bytes:
    """A ``{row: bytes}`` artifact as an Arrow IPC stream."""
    if not isinstance(value, Mapping) or not all(isinstance(k, int) and isinstance(v, bytes) for k, v in value.items()):
        raise SpoolError(
            f"artifact {name!r} is declared {ArtifactKind.ROW_BYTES.value} but is not a {{row: bytes}} map"
        )
    table = pa.table({"row": pa.array(list(value), pa.int64()), "value": pa.array(list(value.values()), pa.binary())})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _encode_array(name: str, value: Any, rows: int) -> bytes:
    """A numeric per-row artifact as a ``.npy`` payload."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = np.zeros(0, dtype=object)
    if array.dtype.kind not in "biuf" or array.ndim == 0 or array.shape[0] != rows:
        raise SpoolError(
            f"artifact {name!r} is declared {ArtifactKind.ROW_ARRAY.value} but is not a numeric array with one entry "
            f"per row ({rows})"
        )
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _encode_artifacts(artifacts: Mapping[str, Any], declared: Mapping[str, str], rows: int) -> dict[bytes, bytes]:
    """Batch metadata entries of every artifact that must reach the committer.

    Every artifact must be declared by a scoring stage (:meth:`~datahygiene.core.stage.StageBase.artifacts`):
    per-row arrays and ``{row: bytes}`` maps travel, batch-local caches stay behind, and anything else is an
    error, so a flow never loses what a stage left for a later one.
    """
    encoded: dict[bytes, bytes] = {}
    for name, value in artifacts.items():
        kind = declared.get(name)
        if kind is None:
            raise SpoolError(
                f"artifact {name!r} is not declared by any scoring stage: a stage must declare what it leaves in "
                "Batch.artifacts (StageBase.artifacts) for a flow to carry it to the committer"
            )
        if kind == ArtifactKind.ROW_ARRAY:
            encoded[_ARRAY_ARTIFACT + name.encode()] = base64.b64encode(_encode_array(name, value, rows))
        elif kind == ArtifactKind.ROW_BYTES:
            encoded[_ROWS_ARTIFACT + name.encode()] = base64.b64encode(_encode_rows(name, value))
        elif kind != ArtifactKind.BATCH_LOCAL:
            raise SpoolError(f"artifact {name!r} has unknown kind {kind!r}")
    return encoded


def _decode_artifacts(batch_metadata: dict[bytes, bytes]) -> dict[str, Any]:
    artifacts: dict[str, Any] = {}
    for key, value in batch_metadata.items():
        if key.startswith(_ARRAY_ARTIFACT):
            artifacts[key[len(_ARRAY_ARTIFACT) :].decode()] = np.load(
                io.BytesIO(base64.b64decode(value)), allow_pickle=False
            )
        elif key.startswith(_ROWS_ARTIFACT):
            table = pa.ipc.open_stream(pa.py_buffer(base64.b64decode(value))).read_all()
            rows, payloads = table.column("row").to_pylist(), table.column("value").to_pylist()
            artifacts[key[len(_ROWS_ARTIFACT) :].decode()] = dict(zip(rows, payloads, strict=True))
    return artifacts


def write_spool(path: Path, batches: Iterable[ScoredBatch], summary: ChainSummary) -> SpoolInfo:
    """Write scored batches to ``path`` atomically (temporary name, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer: two attempts scoring the same shard at once each write their own file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    metadata = _summary_metadata(summary)
    declared = dict(summary.artifacts)
    sink = pa.OSFile(str(temporary), "wb")
    writer: pa.ipc.RecordBatchFileWriter | None = None
    schema: pa.Schema | None = None
    rows = count = 0
    try:
        for scored in batches:
            records = scored.records
            if writer is None or schema is None:
                schema = records.schema.with_metadata({**(records.schema.metadata or {}), **metadata})
                writer = pa.ipc.new_file(sink, schema)
            batch_metadata = {
                _REASONS: orjson.dumps(scored.reasons.to_dict()),
                _TIMES: orjson.dumps(scored.times.raw_records()),
                **_encode_artifacts(scored.artifacts, declared, records.num_rows),
            }
            writer.write_batch(records.replace_schema_metadata(schema.metadata), custom_metadata=batch_metadata)
            rows += records.num_rows
            count += 1
        if writer is None:
            fields = [stage_field for _, stage_field in summary.fields]
            writer = pa.ipc.new_file(sink, pa.schema([*BASE_SCHEMA, *fields], metadata=metadata))
        writer.close()
    finally:
        sink.close()
    with temporary.open("rb+") as handle:
        os.fsync(handle.fileno())
    temporary.replace(path)
    return SpoolInfo(rows=rows, batches=count, scoring=summary)


def _read_summary(schema: pa.Schema) -> ChainSummary:
    metadata = schema.metadata or {}
    described = orjson.loads(metadata[_SUMMARY])
    fields_schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(metadata[_FIELDS])))
    owners: list[str] = described["owners"]
    return ChainSummary(
        fields=tuple(zip(owners, list(fields_schema), strict=True)),
        models=tuple(described["models"]),
        artifacts=tuple((str(name), str(kind)) for name, kind in described.get("artifacts", [])),
        roles=tuple((str(column), str(role)) for column, role in described.get("roles", [])),
    )


def spool_info(path: Path) -> SpoolInfo:
    """Read a spool file's summary without reading its rows."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
        return SpoolInfo(rows=rows, batches=reader.num_record_batches, scoring=_read_summary(reader.schema))


def read_spool(path: Path, config: RunConfig, *, decode_images: bool) -> Iterator[ScoredBatch]:
    """The scored batches of a spool file, in order; images decoded again when ``decode_images``."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        kept_metadata = {k: v for k, v in (reader.schema.metadata or {}).items() if k not in (_SUMMARY, _FIELDS)}
        original_metadata = kept_metadata or None
        for position in range(reader.num_record_batches):
            records, batch_metadata = reader.get_batch_with_custom_metadata(position)
            records = records.replace_schema_metadata(original_metadata)
            batch_metadata = dict(batch_metadata or {})
            reasons = Reasons.from_dict(orjson.loads(batch_metadata[_REASONS]))
            artifacts = _decode_artifacts(batch_metadata)
            times = StageTimes.from_records(orjson.loads(batch_metadata.get(_TIMES, b"[]")))
            images = None
            if decode_images:  # the scoring side decoded too: this second decode is its own step
                with times.measure("redecode", records.num_rows, records.nbytes, kind="engine"):
                    images = decode_batch_images(records, Reasons(records.num_rows), config)
            yield ScoredBatch(records=records, reasons=reasons, images=images, artifacts=artifacts, times=times)


def read_spool_columns(path: Path, names: Sequence[str]) -> dict[str, pa.ChunkedArray]:
    """The whole shard's values of those of ``names`` the spool has (nothing else is read into memory)."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        present = [name for name in names if reader.schema.get_field_index(name) >= 0]
        parts: dict[str, list[pa.Array]] = {name: [] for name in present}
        for position in range(reader.num_record_batches):
            records = reader.get_batch(position)
            for name in present:
                parts[name].append(records.column(name))
        return {name: pa.chunked_array(parts[name], type=reader.schema.field(name).type) for name in present}


@dataclass(frozen=True)
class SpooledBatches:
    """The scored batches of a spool file as an iterable that can be read more than once (each pass rereads)."""

    path: Path
    config: RunConfig
    decode_images: bool

    def __iter__(self) -> Iterator[ScoredBatch]:
        return read_spool(self.path, self.config, decode_images=self.decode_images)
