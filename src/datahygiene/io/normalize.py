"""Map input rows onto the canonical columns, recording every problem as a reason.

Output of :func:`normalize`: a record batch with ``id``, ``text``, ``image``,
``url``, ``license``, the passthrough input columns, ``metadata`` (JSON of the
non-role fields of schemaless formats), ``raw``, ``source_shard`` and
``source_row``, plus the input reasons per row. Nothing is dropped: values
that do not fit a role's type are kept as JSON text and flagged.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from datahygiene.core import columns as C
from datahygiene.core.config import ColumnMap
from datahygiene.core.reasons import Reasons
from datahygiene.io.jsonarrow import json_lines_columnar
from datahygiene.io.jsonline import json_line_rows
from datahygiene.io.localfiles import Folder
from datahygiene.io.sources import InputError, RowFailure, SourceBatch, file_bytes

METADATA = C.METADATA
_ROLE_ORDER = (C.ID, C.TEXT, C.IMAGE, C.URL, C.LICENSE)
RESERVED = frozenset({*_ROLE_ORDER, METADATA, C.RAW, C.SOURCE_SHARD, C.SOURCE_ROW, C.REJECT_REASONS})


@dataclass(frozen=True)
class ShardContext:
    """What normalisation needs to know about the shard being read."""

    shard_id: str
    root: Path | str | None
    columns: ColumnMap
    #: Longer texts are rejected as ``text_too_long`` (None: no limit).
    max_text_chars: int | None = None


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


def row_role_keys(names: Sequence[str], mapping: ColumnMap) -> dict[str, tuple[str, ...]]:
    """Per role, the field names a schemaless row (JSONL, WebDataset) may hold it under, preferred first.

    Each row takes a role from the first of these names that the row has, so
    what a row's id (or text) is never depends on the other rows of its batch.
    """
    by_lower: dict[str, list[str]] = {}
    for name in names:
        by_lower.setdefault(name.lower(), []).append(name)
    keys: dict[str, tuple[str, ...]] = {}
    for role in _ROLE_ORDER:
        configured = getattr(mapping, role)
        found = (
            (configured,)
            if configured is not None
            else tuple(name for candidate in C.ROLES[role] for name in by_lower.get(candidate, ()))
        )
        if found:
            keys[role] = found
    return keys


_MISSING = object()


def _first_key(row: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in row:
            return key
    return None


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    return repr(value)


_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS, default=_json_default).decode()
    except TypeError:  # an integer beyond 64 bits (kept exact from JSON input) or nesting beyond orjson's 254 levels
        return _json_text_exact(value)


def _json_text_exact(value: Any) -> str:
    """Python's writer: exact integers of any size, nesting as deep as orjson reads (1024 levels)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4096))
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    finally:
        sys.setrecursionlimit(limit)


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
    """Builds the canonical ``image`` column from bytes, HF dicts or paths.

    Paths under a local folder are read together in :meth:`array`, on a small pool, in row order.
    """

    def __init__(self, context: ShardContext, reasons: Reasons) -> None:
        self.context = context
        self.reasons = reasons
        self.payloads: list[bytes | None] = []
        self.paths: list[str | None] = []
        self.pending: list[int] = []  # rows whose file is read in array()

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
            if (data is not None and not isinstance(data, bytes)) or (path is not None and not isinstance(path, str)):
                self.reasons.add_row(row, "wrong_type:image")
                data, path = None, None
        elif value is not None:
            self.reasons.add_row(row, "wrong_type:image")
        path = path or None  # an empty path names no image (a {bytes: None, path: ""} value breaks loaders)
        if data is None and path:
            if isinstance(self.context.root, Path):
                self.pending.append(row)
            else:
                data = self._load(row, path)
        self.payloads.append(data)
        self.paths.append(path)

    def _load(self, row: int, path: str) -> bytes | None:
        if self.context.root is None:
            self.reasons.add_row(row, "image_missing_file")
            return None
        try:
            return file_bytes(self.context.root, path)
        except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
            self._unreadable(row, error)
        return None

    def _unreadable(self, row: int, error: Exception) -> None:
        """The row's path could not be read: it leaves the folder (``PermissionError``), or no file is there."""
        self.reasons.add_row(row, "image_path_escape" if isinstance(error, PermissionError) else "image_missing_file")

    def _read_pending(self) -> None:
        """Read the files of the rows that named a path under the local root (its reasons in row order)."""
        if not self.pending:
            return
        assert isinstance(self.context.root, Path)
        relatives = [self.paths[row] or "" for row in self.pending]
        for row, result in zip(self.pending, Folder(self.context.root).read_many(relatives), strict=True):
            if isinstance(result, bytes):
                self.payloads[row] = result
            else:
                self._unreadable(row, result)
        self.pending = []

    def array(self) -> pa.Array:
        self._read_pending()
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


def _empty_text(text: pa.Array, image: pa.Array, has_field: npt.NDArray[np.bool_], reasons: Reasons) -> None:
    """Rows with no usable text and no image, and no other problem, carry nothing to train on.

    ``has_field``: whether the row has a text or an image field at all (``empty_text``) or neither (``no_content``).
    """
    blank = _blank(text)
    no_image = image.is_null()
    mask = np.asarray(pc.and_(blank, no_image).to_numpy(zero_copy_only=False), dtype=bool) & ~reasons.any()
    reasons.add_mask(mask & has_field, "empty_text")
    reasons.add_mask(mask & ~has_field, "no_content")


def _limit_text(text: pa.Array, limit: int | None, reasons: Reasons, raw: list[bytes | None]) -> pa.Array:
    """Texts over ``limit`` characters become null with reason ``text_too_long``; their UTF-8 bytes go to ``raw``."""
    if limit is None or len(text) == 0:
        return text
    longest = pc.max(pc.binary_length(text)).as_py()  # bytes >= characters, and only the offsets are read
    if longest is None or longest <= limit:
        return text
    too_long = pc.fill_null(pc.greater(pc.utf8_length(text), limit), False)
    rows = np.flatnonzero(np.asarray(too_long.to_numpy(zero_copy_only=False), dtype=bool))
    if not len(rows):
        return text
    data = text.view(pa.binary())
    for row in rows.tolist():
        if raw[row] is None:
            raw[row] = data[row].as_py()
    reasons.add_rows(rows.astype(np.int64), "text_too_long")
    return pc.if_else(too_long, pa.scalar(None, pa.string()), text)


def _blank(text: pa.Array) -> pa.Array:
    """Null, empty or all-whitespace rows. Only rows that start with a space, a control or a non-ASCII
    character can be all whitespace, so only those go through ``utf8_is_space`` (which reads every byte)."""
    text = text.cast(pa.large_string())
    _validity, offset_buffer, data_buffer = text.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(1, np.uint8)
    lengths = np.diff(offsets)
    first = data[np.minimum(offsets[:-1], max(len(data) - 1, 0))] if len(data) else np.zeros(len(text), np.uint8)
    maybe = (lengths == 0) | (first <= ord(" ")) | (first >= 0x7F)
    maybe |= np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    blank = np.zeros(len(text), dtype=bool)
    rows = np.flatnonzero(maybe)
    if len(rows):
        picked = text.take(pa.array(rows))
        spaces = pc.or_(pc.utf8_is_space(picked), pc.equal(pc.binary_length(picked), 0))
        blank[rows] = np.asarray(pc.fill_null(spaces, True).to_numpy(zero_copy_only=False), dtype=bool)
    return pa.array(blank)


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


def _recover_ids(ids: pa.Array, failures: list[tuple[int, RowFailure]], id_column: str) -> pa.Array:
    """Fill the id of rows that failed to parse from what their bytes still gave (``RowFailure.fields``)."""
    recovered = {row: failure.fields.get(id_column) for row, failure in failures}
    if not any(isinstance(value, str | int) for value in recovered.values()):
        return ids
    values = ids.to_pylist()
    for row, value in recovered.items():
        if values[row] is None and isinstance(value, str | int):
            values[row] = str(value)
    return pa.array(values, pa.string())


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
    role_arrays: dict[str, pa.Array],
    has_field: npt.NDArray[np.bool_],
    reasons: Reasons,
    raw: list[bytes | None],
    context: ShardContext,
    first_row: int,
) -> None:
    """Reject over-long texts, derive missing ids and flag rows with nothing to train on."""
    n = reasons.num_rows
    if C.TEXT in role_arrays:
        role_arrays[C.TEXT] = _limit_text(role_arrays[C.TEXT], context.max_text_chars, reasons, raw)
    role_arrays[C.ID] = _derive_ids(role_arrays.get(C.ID, pa.nulls(n, pa.string())), context, first_row)
    _empty_text(
        role_arrays.get(C.TEXT, pa.nulls(n, pa.string())),
        role_arrays.get(C.IMAGE, pa.nulls(n, C.IMAGE_TYPE)),
        has_field,
        reasons,
    )


def normalize(batch: SourceBatch, context: ShardContext, first_row: int) -> tuple[pa.RecordBatch, Reasons]:
    """Canonical record batch and input reasons for one source batch."""
    if batch.json_lines is not None:
        block, batch.json_lines = batch.json_lines, None  # parsed once: the raw bytes need not outlive this call
        table = json_lines_columnar(block)
        if table is not None and _only_text_roles(table, context.columns):
            # the same rows the line parser gives: every field is a role, so no metadata to build
            del block
            records = table.combine_chunks().to_batches()
            del table
            if records:
                return _normalize_columnar(SourceBatch(records=records[0]), context, first_row)
            return _normalize_rows(SourceBatch(rows=[]), context, first_row)
        return _normalize_rows(SourceBatch(rows=json_line_rows(block)), context, first_row)
    if batch.records is not None:
        return _normalize_columnar(batch, context, first_row)
    return _normalize_rows(batch, context, first_row)


def _only_text_roles(table: pa.Table, mapping: ColumnMap) -> bool:
    """Every field is a role column other than the image, holding strings (an id may hold integers), and every
    row has its text (Arrow cannot tell a missing key, ``no_content``, from a null one, ``empty_text``)."""
    schema = table.schema
    names = schema.names
    if len({name.lower() for name in names}) != len(names):
        return False  # the line parser's key order decides between such names
    roles, _missing = resolve_roles(names, mapping)
    role_of = {name: role for role, name in roles.items()}
    for field in schema:
        role = role_of.get(field.name)
        if role is None or role == C.IMAGE:
            return False
        kind = field.type
        if not (pa.types.is_string(kind) or pa.types.is_null(kind) or (role == C.ID and pa.types.is_int64(kind))):
            return False
        if role == C.TEXT and table.column(field.name).null_count:
            return False
    return True


def _normalize_columnar(batch: SourceBatch, context: ShardContext, first_row: int) -> tuple[pa.RecordBatch, Reasons]:
    records = batch.records
    assert records is not None
    n = records.num_rows
    _refuse_duplicate_names(records.schema.names)
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
    if C.ID in roles and batch.failures:
        role_arrays[C.ID] = _recover_ids(role_arrays[C.ID], batch.failures, roles[C.ID])
    has_field = np.full(n, C.TEXT in roles or C.IMAGE in roles)
    _complete_roles(role_arrays, has_field, reasons, raw_values, context, first_row)
    role_columns = set(roles.values())
    passthrough = [(name, records.column(name)) for name in records.schema.names if name not in role_columns]
    # Most batches have no bad rows: an all-null column without converting a list of n Nones.
    raw = pa.nulls(n, pa.binary()) if raw_values.count(None) == n else pa.array(raw_values, pa.binary())
    record_batch = _assemble(role_arrays, passthrough, pa.nulls(n, pa.string()), raw, context, first_row)
    return record_batch, reasons


def _refuse_duplicate_names(names: list[str]) -> None:
    """Two input columns of one name cannot be told apart: the shard fails with one clear line."""
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise InputError(f"the input has more than one column named {', '.join(map(repr, repeated))}; rename them")


def _normalize_rows(batch: SourceBatch, context: ShardContext, first_row: int) -> tuple[pa.RecordBatch, Reasons]:
    """Schemaless rows: each row's roles come from its own fields (see :func:`row_role_keys`)."""
    rows = batch.rows or []
    n = len(rows)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row.fields if isinstance(row, RowFailure) else row))
    for _, broken in batch.failures:  # a sample whose json member broke: what it still gave names its id
        names.update(dict.fromkeys(broken.fields))
    role_keys = row_role_keys(list(names), context.columns)
    reasons = Reasons(n)
    failures = dict(batch.failures)
    role_values: dict[str, list[Any]] = {role: [None] * n for role in role_keys}
    # Each role's preferred name first (one dict lookup for most rows), then the others in order of preference.
    plan = [(role_values[role], keys[0], keys[1:], role in (C.TEXT, C.IMAGE)) for role, keys in role_keys.items()]
    preferred = frozenset(keys[0] for keys in role_keys.values())
    ids = role_values.get(C.ID)
    has_field = [False] * n  # a text or image field, even an empty one: empty_text, not no_content
    metadata: list[str | None] = [None] * n
    raw: list[bytes | None] = [None] * n
    role_names = {key for keys in role_keys.values() for key in keys}
    columns = _TypedColumns({name: kind for name, kind in batch.typed.items() if name not in role_names})
    for index, row in enumerate(rows):
        failure = row if isinstance(row, RowFailure) else failures.get(index) if failures else None
        if failure is not None:
            reasons.add_row(index, failure.reason)
            raw[index] = failure.raw
            if C.ID in role_keys:  # a broken row keeps its own id when its bytes still give one
                fields = failure.fields if isinstance(row, RowFailure) else {**failure.fields, **row}
                id_key = _first_key(fields, role_keys[C.ID])
                role_values[C.ID][index] = None if id_key is None else fields[id_key]
        if isinstance(row, RowFailure):
            columns.skip()
            continue
        used = preferred
        for values, first, others, is_content in plan:
            value = row.get(first, _MISSING)
            if value is _MISSING:
                key = _first_key(row, others)
                if key is None:
                    continue
                value, used = row[key], used | {key}
            if failure is None or values is not ids:
                values[index] = value
            has_field[index] = has_field[index] or is_content
        extra = columns.take({k: v for k, v in row.items() if k not in used})
        if extra:
            metadata[index] = _json_text(extra)
    role_arrays: dict[str, pa.Array] = {}
    for role, values in role_values.items():
        if role == C.IMAGE:
            images = _Images(context, reasons)
            for index, value in enumerate(values):
                images.add(index, value)
            role_arrays[role] = images.array()
        else:
            role_arrays[role] = pa.array(_scalar_text(values, role, reasons, raw), pa.string())
    _complete_roles(role_arrays, np.array(has_field, dtype=bool), reasons, raw, context, first_row)
    metadata_array = pa.array(metadata, pa.string())
    record_batch = _assemble(
        role_arrays, columns.arrays(), metadata_array, pa.array(raw, pa.binary()), context, first_row
    )
    return record_batch, reasons


def _fits(value: Any, kind: pa.DataType) -> bool:
    """Whether a Python value converts to ``kind`` without change (bools are not integers here)."""
    if pa.types.is_boolean(kind):
        return isinstance(value, bool)
    if pa.types.is_integer(kind):
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if pa.types.is_floating(kind):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if pa.types.is_string(kind):
        return isinstance(value, str)
    return False


class _TypedColumns:
    """Fields of schemaless rows that become typed columns; values that do not fit stay for ``metadata``."""

    def __init__(self, types: dict[str, pa.DataType]) -> None:
        self.types = types
        self.values: dict[str, list[Any]] = {name: [] for name in types}

    def skip(self) -> None:
        """A row without fields (a failed row): null in every typed column."""
        for values in self.values.values():
            values.append(None)

    def take(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Move the fitting typed fields of one row into the columns; returns the fields left for metadata."""
        for name, kind in self.types.items():
            value = fields.get(name)
            if value is None or _fits(value, kind):
                fields.pop(name, None)
                self.values[name].append(value)
            else:
                self.values[name].append(None)
        return fields

    def arrays(self) -> list[tuple[str, pa.Array]]:
        """(name, array) of every typed column, in the order the types were given."""
        return [(name, pa.array(self.values[name], self.types[name])) for name in self.types]
