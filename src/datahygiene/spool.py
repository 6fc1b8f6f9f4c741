"""Scored shards on disk between a worker and the committer (Arrow IPC, one record batch per scored batch).

A worker writes the records with the order-free stages' columns; each
batch's reasons (and, when ordered stages need them, its artifacts such as
embeddings) ride along as the batch's custom metadata, so the committer sees
exactly the batches the CLI would have held in memory. Images are not
stored: the committer decodes them again from the ``image`` bytes.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from datahygiene.config import RunConfig
from datahygiene.pipeline import BASE_SCHEMA, ChainSummary, ScoredBatch, decode_batch_images
from datahygiene.reasons import Reasons

_REASONS = b"datahygiene.reasons"
_ARTIFACT = b"datahygiene.artifact."
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
    return {
        _SUMMARY: orjson.dumps(
            {"owners": [owner for owner, _ in summary.fields], "models": list(summary.models)},
            default=str,
        ),
        _FIELDS: base64.b64encode(fields_schema.serialize().to_pybytes()),
    }


def _artifact_bytes(name: str, value: Any, rows: int) -> bytes:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"artifact {name!r} is not an array; ordered stages cannot receive it from a worker") from error
    if array.dtype == object or (array.ndim and array.shape[0] != rows):
        raise TypeError(f"artifact {name!r} must be a numeric array with one entry per row to leave a worker")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue())


def write_spool(
    path: Path, batches: Iterable[ScoredBatch], summary: ChainSummary, *, carry_artifacts: bool
) -> SpoolInfo:
    """Write scored batches to ``path`` atomically (temporary name, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer: two attempts scoring the same shard at once each write their own file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    metadata = _summary_metadata(summary)
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
            batch_metadata = {_REASONS: orjson.dumps(scored.reasons.to_dict())}
            if carry_artifacts:
                for name, value in scored.artifacts.items():
                    batch_metadata[_ARTIFACT + name.encode()] = _artifact_bytes(name, value, records.num_rows)
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
            artifacts: dict[str, Any] = {}
            for key, value in batch_metadata.items():
                if key.startswith(_ARTIFACT):
                    artifacts[key[len(_ARTIFACT) :].decode()] = np.load(
                        io.BytesIO(base64.b64decode(value)), allow_pickle=False
                    )
            images = decode_batch_images(records, Reasons(records.num_rows), config) if decode_images else None
            yield ScoredBatch(records=records, reasons=reasons, images=images, artifacts=artifacts)
