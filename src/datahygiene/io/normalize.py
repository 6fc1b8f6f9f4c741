"""Map input rows onto the canonical columns, recording every problem as a reason.

Output of :func:`normalize`: a record batch with ``id``, ``text``, ``image``,
``url``, ``license``, the passthrough input columns, ``metadata`` (JSON of the
non-role fields of schemaless formats), ``raw``, ``source_shard`` and
``source_row``, plus the input reasons per row. Nothing is dropped: values
that do not fit a role's type are kept as JSON text and flagged.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from datahygiene.core import columns as C
from datahygiene.core.config import ColumnMap
from datahygiene.core.reasons import Reasons
from datahygiene.io.sources import RowFailure, SourceBatch, file_bytes

METADATA = C.METADATA
_ROLE_ORDER = (C.ID, C.TEXT, C.IMAGE, C.URL, C.LICENSE)
RESERVED = frozenset({*_ROLE_ORDER, METADATA, C.RAW, C.SOURCE_SHARD, C.SOURCE_ROW, C.REJECT_REASONS})


@dataclass(frozen=True)
class ShardContext:
    """What normalisation needs to know about the shard being read."""

    shard_id: str
    root: Path | str | None
    columns: ColumnMap


def resolve_roles(names: Sequence[str], mapping: ColumnMap) -> tuple[dict[str, str], list[str]]:
    """Role -> input column name, and configured columns that are missing."""
    lowered = {name.lower(): name for name in names}
    roles: dict[str, str] = {}
    missing: list[str] = []
    for role in _ROLE_ORDER:
        configured = getattr(mapping, role)
        if configured is not None:
            if configured in names:
                roles[role] = configured
            else:
                missing.append(configured)
            continue
        for candidate in C.ROLES[role]:
            if candidate in lowered:
                roles[role] = lowered[candidate]
                break
    return roles, missing


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    return repr(value)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=_json_default).decode()


def _scalar_text(values: list[Any], role: str, reasons: Reasons, raw: list[bytes | None]) -> list[str | None]:
    """Coerce Python values to strings; non-strings are kept as JSON and flagged.

    Bytes that are not UTF-8 become null, with the original bytes kept in ``raw``.
    """
    out: list[str | None] = []
    for index, value in enumerate(values):
        if value is None or isinstance(value, str):
            out.append(value)
        elif isinstance(value, bytes):
            try:
                out.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(None)
                raw[index] = value
                reasons.add_row(index, "invalid_utf8")
        else:
            out.append(_json_text(value))
            if role != C.ID or not isinstance(value, int | float):
                reasons.add_row(index, f"wrong_type:{role}")
    return out


class _Images:
    """Builds the canonical ``image`` column from bytes, HF dicts or paths."""

    def __init__(self, context: ShardContext, reasons: Reasons) -> None:
        self.context = context
        self.reasons = reasons
        self.payloads: list[bytes | None] = []
        self.paths: list[str | None] = []

    def add(self, row: int, value: Any) -> None:
        data: bytes | None = None
        path: str | None = None
        if isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            path = value
        elif isinstance(value, dict):
            data = value.get("bytes")
            path = value.get("path")
            if data is not None and not isinstance(data, bytes):
                self.reasons.add_row(row, "wrong_type:image")
                data = None
        elif value is not None:
            self.reasons.add_row(row, "wrong_type:image")
        if data is None and path:
            data = self._load(row, path)
        self.payloads.append(data)
        self.paths.append(path)

    def _load(self, row: int, path: str) -> bytes | None:
        if self.context.root is None:
            self.reasons.add_row(row, "image_missing_file")
            return None
        try:
            return file_bytes(self.context.root, path)
        except PermissionError:
            self.reasons.add_row(row, "image_path_escape")
        except OSError:
            self.reasons.add_row(row, "image_missing_file")
        return None

    def array(self) -> pa.Array:
        present = [data is not None or path is not None for data, path in zip(self.payloads, self.paths, strict=True)]
        return pa.StructArray.from_arrays(
            [pa.array(self.payloads, pa.binary()), pa.array(self.paths, pa.string())],
            fields=list(C.IMAGE_TYPE),
            mask=pa.array([not p for p in present]),
        )


def _text_array(values: pa.Array, role: str, reasons: Reasons, raw: list[bytes | None]) -> pa.Array:
    """A string column from any Arrow column; bad rows become null or JSON and get a reason."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            values.validate(full=True)
            return values.cast(pa.string())
        except pa.ArrowInvalid:
            values = values.view(pa.binary()) if pa.types.is_string(kind) else values.view(pa.large_binary())
            kind = values.type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        try:
            return values.cast(pa.string())
        except pa.ArrowInvalid:
            return pa.array(_scalar_text(values.to_pylist(), role, reasons, raw), pa.string())
    if pa.types.is_null(kind):
        return pa.nulls(len(values), pa.string())
    if role == C.ID and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return values.cast(pa.string())
    return pa.array(_scalar_text(values.to_pylist(), role, reasons, raw), pa.string())


def _image_array(values: pa.Array, context: ShardContext, reasons: Reasons) -> pa.Array:
    kind = values.type
    if kind == C.IMAGE_TYPE and pc.all(pc.or_kleene(values.is_null(), values.field("bytes").is_valid())).as_py():
        return values
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        data = values.cast(pa.binary())
        return pa.StructArray.from_arrays(
            [data, pa.nulls(len(values), pa.string())], fields=list(C.IMAGE_TYPE), mask=data.is_null()
        )
    images = _Images(context, reasons)
    for row, value in enumerate(values.to_pylist()):
        images.add(row, value)
    return images.array()


def _empty_text(text: pa.Array, image: pa.Array, has_text: bool, reasons: Reasons) -> None:
    """Rows with no usable text and no image, and no other problem, carry nothing to train on."""
    if has_text:
        # utf8_is_space is false for "" and copies nothing, unlike trimming first
        blank = pc.fill_null(pc.or_(pc.utf8_is_space(text), pc.equal(pc.binary_length(text), 0)), True)
    else:
        blank = pa.array(np.ones(len(text), dtype=bool))
    no_image = image.is_null()
    mask = np.asarray(pc.and_(blank, no_image).to_numpy(zero_copy_only=False), dtype=bool) & ~reasons.any()
    reasons.add_mask(mask, "empty_text" if has_text else "no_content")


def _assemble(
    role_arrays: dict[str, pa.Array],
    passthrough: list[tuple[str, pa.Array]],
    metadata: pa.Array,
    raw: pa.Array,
    context: ShardContext,
    first_row: int,
) -> pa.RecordBatch:
    n = len(raw)
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    for role in _ROLE_ORDER:
        fields.append(pa.field(role, C.ROLE_TYPES[role]))
        arrays.append(role_arrays.get(role, pa.nulls(n, C.ROLE_TYPES[role])))
    taken = {f.name for f in fields}
    for name, values in passthrough:
        out_name = name
        while out_name in RESERVED or out_name in taken:
            out_name = f"input_{out_name}"
        taken.add(out_name)
        fields.append(pa.field(out_name, values.type))
        arrays.append(values)
    fields += [pa.field(METADATA, pa.string()), *C.TRAILER_FIELDS]
    arrays += [
        metadata,
        raw,
        _repeated_string(context.shard_id, n),
        pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _repeated_string(value: str, count: int) -> pa.Array:
    """``count`` copies of one string, built from buffers without Python objects."""
    encoded = value.encode()
    offsets = np.arange(count + 1, dtype=np.int32) * len(encoded)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets.tobytes()), pa.py_buffer(encoded * count))


def _derive_ids(ids: pa.Array, context: ShardContext, first_row: int) -> pa.Array:
    if ids.null_count == 0:
        return ids
    derived = pa.array([f"{context.shard_id}:{first_row + i}" for i in range(len(ids))], pa.string())
    return pc.if_else(ids.is_null(), derived, ids)


def _start(names: Sequence[str], context: ShardContext, n: int) -> tuple[dict[str, str], Reasons]:
    """Resolve the roles of a batch; configured columns that are missing flag every row."""
    reasons = Reasons(n)
    roles, missing = resolve_roles(names, context.columns)
    for name in missing:
        reasons.add_mask(np.ones(n, dtype=bool), f"missing_column:{name}")
    return roles, reasons


def _complete_roles(
    role_arrays: dict[str, pa.Array], roles: dict[str, str], reasons: Reasons, context: ShardContext, first_row: int
) -> None:
    """Derive missing ids and flag rows with nothing to train on."""
    n = reasons.num_rows
    role_arrays[C.ID] = _derive_ids(role_arrays.get(C.ID, pa.nulls(n, pa.string())), context, first_row)
    _empty_text(
        role_arrays.get(C.TEXT, pa.nulls(n, pa.string())),
        role_arrays.get(C.IMAGE, pa.nulls(n, C.IMAGE_TYPE)),
        C.TEXT in roles or C.IMAGE in roles,
        reasons,
    )


def normalize(batch: SourceBatch, context: ShardContext, first_row: int) -> tuple[pa.RecordBatch, Reasons]:
    """Canonical record batch and input reasons for one source batch."""
    if batch.records is not None:
        return _normalize_columnar(batch, context, first_row)
    return _normalize_rows(batch.rows or [], context, first_row)


def _normalize_columnar(batch: SourceBatch, context: ShardContext, first_row: int) -> tuple[pa.RecordBatch, Reasons]:
    records = batch.records
    assert records is not None
    n = records.num_rows
    roles, reasons = _start(records.schema.names, context, n)
    raw_values: list[bytes | None] = [None] * n
    for row, failure in batch.failures:
        raw_values[row] = failure.raw
        reasons.add_row(row, failure.reason)
    role_arrays: dict[str, pa.Array] = {}
    for role, name in roles.items():
        values = records.column(name)
        if role == C.IMAGE:
            role_arrays[role] = _image_array(values, context, reasons)
        else:
            role_arrays[role] = _text_array(values, role, reasons, raw_values)
    _complete_roles(role_arrays, roles, reasons, context, first_row)
    role_columns = set(roles.values())
    passthrough = [(name, records.column(name)) for name in records.schema.names if name not in role_columns]
    # Most batches have no bad rows: an all-null column without converting a list of n Nones.
    raw = pa.nulls(n, pa.binary()) if raw_values.count(None) == n else pa.array(raw_values, pa.binary())
    record_batch = _assemble(role_arrays, passthrough, pa.nulls(n, pa.string()), raw, context, first_row)
    return record_batch, reasons


def _normalize_rows(
    rows: list[dict[str, Any] | RowFailure], context: ShardContext, first_row: int
) -> tuple[pa.RecordBatch, Reasons]:
    n = len(rows)
    keys: dict[str, None] = {}
    for row in rows:
        if isinstance(row, dict):
            keys.update(dict.fromkeys(row))
    roles, reasons = _start(list(keys), context, n)
    role_values: dict[str, list[Any]] = {role: [] for role in roles}
    metadata: list[str | None] = []
    raw: list[bytes | None] = []
    role_keys = set(roles.values())
    for index, row in enumerate(rows):
        if isinstance(row, RowFailure):
            reasons.add_row(index, row.reason)
            raw.append(row.raw)
            metadata.append(None)
            for values in role_values.values():
                values.append(None)
            continue
        raw.append(None)
        for role, key in roles.items():
            role_values[role].append(row.get(key))
        extra = {k: v for k, v in row.items() if k not in role_keys}
        metadata.append(_json_text(extra) if extra else None)
    role_arrays: dict[str, pa.Array] = {}
    for role, values in role_values.items():
        if role == C.IMAGE:
            images = _Images(context, reasons)
            for index, value in enumerate(values):
                images.add(index, value)
            role_arrays[role] = images.array()
        else:
            role_arrays[role] = pa.array(_scalar_text(values, role, reasons, raw), pa.string())
    _complete_roles(role_arrays, roles, reasons, context, first_row)
    metadata_array = pa.array(metadata, pa.string())
    record_batch = _assemble(role_arrays, [], metadata_array, pa.array(raw, pa.binary()), context, first_row)
    return record_batch, reasons
