"""One streaming pass over a run's Parquet outputs, reading only the columns the datasheet uses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datahygiene.core import columns as C
from datahygiene.core.stage import ColumnRole
from datahygiene.io.sink import ROUTES
from datahygiene.reports.datasheet.audit import AuditCounter, IdentityTerms
from datahygiene.reports.datasheet.model import Histogram, NumberSummary, ValueCounts
from datahygiene.reports.datasheet.uninherited import DuplicateSignals

BINS = 20
BATCH_ROWS = 8192
#: Integer columns that are bookkeeping, not statistics of the data.
_NOT_STATS = {C.SOURCE_ROW}
#: Tag columns whose values are shown only as a count: they hold the matched words themselves
#: (``blocklist_hits``) or free-text, per-row evidence (``synthetic_evidence``).
_HIDE_VALUES = ("hits", "evidence")


def reason_family(reason: str) -> str:
    """``blocklist:slurs`` -> ``blocklist:*``; reasons without a ``:`` are their own family."""
    head, sep, _ = reason.partition(":")
    return f"{head}:*" if sep else reason


def route_files(run_dir: Path) -> Iterator[tuple[str, Path]]:
    """(route, file) for every output Parquet file, in a stable order."""
    for route in ROUTES:
        for path in sorted((run_dir / route).glob("*.parquet")):
            yield route, path


def family_masks(reasons: pa.Array) -> dict[str, npt.NDArray[np.bool_]]:
    """Reason family -> which rows of the batch carry a reason of that family."""
    flat = pc.list_flatten(reasons)
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    if len(flat) == 0:
        return masks
    parents = np.asarray(pc.list_parent_indices(reasons).to_numpy(zero_copy_only=False), dtype=np.int64)
    families = np.asarray([reason_family(r) for r in pc.unique(flat).to_pylist()], dtype=object)
    codes = np.asarray(pc.index_in(flat, pc.unique(flat)).to_numpy(zero_copy_only=False), dtype=np.int64)
    per_row = families[codes]
    for family in sorted(set(families.tolist())):
        mask = np.zeros(len(reasons), dtype=bool)
        mask[parents[per_row == family]] = True
        masks[str(family)] = mask
    return masks


def _float_range(files: list[Path], column: str) -> tuple[float, float]:
    lo, hi = np.inf, -np.inf
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                stats = chunk.statistics
                if chunk.path_in_schema == column and stats is not None and stats.has_min_max:
                    lo, hi = min(lo, float(stats.min)), max(hi, float(stats.max))
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 1.0
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _is_tag_list(kind: pa.DataType) -> bool:
    """list<string>: a tag column (lists of numbers are embeddings or similar, not tags)."""
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        return False
    return bool(pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type))


def _values(array: pa.Array) -> npt.NDArray[np.float64]:
    return np.asarray(pc.drop_null(array).to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass
class _IntStats:
    count: int = 0
    total: float = 0.0
    lo: int | None = None
    hi: int | None = None

    def add(self, values: npt.NDArray[np.float64]) -> None:
        if len(values) == 0:
            return
        self.count += len(values)
        self.total += float(values.sum())
        self.lo = int(values.min()) if self.lo is None else min(self.lo, int(values.min()))
        self.hi = int(values.max()) if self.hi is None else max(self.hi, int(values.max()))


@dataclass
class ScanResult:
    """What the pass found; the builder turns it into the datasheet."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROUTES, 0))
    histograms: dict[str, Histogram] = field(default_factory=dict)
    numbers: dict[str, NumberSummary] = field(default_factory=dict)
    duplicates: dict[str, dict[str, int]] = field(default_factory=dict)
    tags: dict[str, ValueCounts] = field(default_factory=dict)
    faces: dict[str, int] = field(default_factory=dict)
    modalities: dict[str, int] = field(default_factory=dict)
    licenses: dict[str, int] = field(default_factory=dict)
    audit: AuditCounter | None = None
    #: C2PA manifest state -> {"kept": rows, "removed": rows}.
    c2pa: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Removed duplicates whose signals their kept copy lacks (see :mod:`.uninherited`).
    uninherited: int = 0


def _add(counter: dict[str, int], key: str, n: int) -> None:
    if n:
        counter[key] = counter.get(key, 0) + n


class Scanner:
    """Accumulates column statistics over record batches of known route."""

    def __init__(
        self, schema: pa.Schema, files: list[Path], terms: IdentityTerms, roles: dict[str, str] | None = None
    ) -> None:
        self.result = ScanResult(audit=AuditCounter(terms))
        self.floats = [f.name for f in schema if pa.types.is_floating(f.type)]
        self.ints = [
            f.name
            for f in schema
            if pa.types.is_integer(f.type) and f.type != pa.uint64() and f.name not in _NOT_STATS  # uint64: hashes
        ]
        self.lists = [f.name for f in schema if _is_tag_list(f.type) and f.name != C.REJECT_REASONS]
        self.face_column = _column_with_role(schema, roles or {}, ColumnRole.FACE_COUNT)
        self.dup_column = _column_with_role(schema, roles or {}, ColumnRole.DUPLICATE_KIND)
        self.c2pa_column = _column_with_role(schema, roles or {}, ColumnRole.C2PA_STATE)
        self.lineage = DuplicateSignals(schema, _column_with_role(schema, roles or {}, ColumnRole.DUPLICATE_OF))
        for name in self.floats:
            lo, hi = _float_range(files, name)
            self.result.histograms[name] = Histogram(name, lo, hi, [0] * BINS, [0] * BINS)
        self._ints = {name: _IntStats() for name in self.ints}
        self.columns = [
            c
            for c in (C.TEXT, C.IMAGE, C.LICENSE, C.REJECT_REASONS, *self.floats, *self.ints, *self.lists)
            if c in schema.names
        ] + [c for c in (self.dup_column, self.c2pa_column, *self.lineage.columns) if c and c not in self.lists]
        self.columns = list(dict.fromkeys(self.columns))

    def add(self, route: str, batch: pa.RecordBatch) -> None:
        """Count one batch of ``route``'s rows."""
        result = self.result
        n = batch.num_rows
        result.rows[route] += n
        removed = np.full(n, route != "kept")
        names = batch.schema.names
        for name in self.floats:
            column = batch.column(name)
            histogram = result.histograms[name]
            histogram.nulls += column.null_count
            for target, mask in ((histogram.kept, ~removed), (histogram.removed, removed)):
                values = _values(column.filter(pa.array(mask)))
                nan = np.isnan(values)
                histogram.nulls += int(nan.sum())
                values = values[~nan]
                counts, _ = np.histogram(
                    np.clip(values, histogram.lo, histogram.hi), BINS, (histogram.lo, histogram.hi)
                )
                for index, count in enumerate(counts.tolist()):
                    target[index] += int(count)
        for name in self.ints:
            if route == "kept":
                self._ints[name].add(_values(batch.column(name)))
        if self.face_column is not None and self.face_column in names:
            faces = pc.fill_null(batch.column(self.face_column), 0)
            with_faces = pc.greater(faces, 0)
            _add(
                result.faces, f"rows_with_faces_{'kept' if route == 'kept' else 'removed'}", pc.sum(with_faces).as_py()
            )
            if route == "kept":
                _add(result.faces, "faces_kept", int(pc.sum(faces).as_py() or 0))
        side = "kept" if route == "kept" else "removed"
        if self.dup_column is not None:
            for item in pc.value_counts(pc.drop_null(batch.column(self.dup_column))).to_pylist():
                kind = result.duplicates.setdefault(str(item["values"]), {"kept": 0, "removed": 0})
                kind[side] += int(item["counts"])
        if self.c2pa_column is not None:
            for item in pc.value_counts(pc.drop_null(batch.column(self.c2pa_column))).to_pylist():
                state = result.c2pa.setdefault(str(item["values"]), {"kept": 0, "removed": 0})
                state[side] += int(item["counts"])
        if route != "kept":
            self.lineage.add(batch)
        for name in self.lists:
            tags = result.tags.setdefault(name, ValueCounts(name, 0, 0))
            column = batch.column(name)
            non_empty = pc.sum(pc.greater(pc.fill_null(pc.list_value_length(column), 0), 0)).as_py() or 0
            if side == "kept":
                tags.rows_kept += int(non_empty)
            else:
                tags.rows_removed += int(non_empty)
            if not any(word in name for word in _HIDE_VALUES):
                for item in pc.value_counts(pc.drop_null(pc.list_flatten(column))).to_pylist():
                    entry = tags.values.setdefault(str(item["values"]), {"kept": 0, "removed": 0})
                    entry[side] += int(item["counts"])
        reasons = batch.column(C.REJECT_REASONS)
        families = family_masks(reasons)
        if C.TEXT in names and result.audit is not None:
            result.audit.update(batch.column(C.TEXT), removed, families)
        if route == "kept":
            has_text = (
                np.asarray(batch.column(C.TEXT).is_valid().to_numpy(zero_copy_only=False), dtype=bool)
                if C.TEXT in names
                else np.zeros(n, dtype=bool)
            )
            has_image = (
                np.asarray(batch.column(C.IMAGE).is_valid().to_numpy(zero_copy_only=False), dtype=bool)
                if C.IMAGE in names
                else np.zeros(n, dtype=bool)
            )
            _add(result.modalities, "text_and_image", int((has_text & has_image).sum()))
            _add(result.modalities, "text_only", int((has_text & ~has_image).sum()))
            _add(result.modalities, "image_only", int((~has_text & has_image).sum()))
            _add(result.modalities, "neither", int((~has_text & ~has_image).sum()))
            if C.LICENSE in names:
                licenses = pc.fill_null(batch.column(C.LICENSE), "(none)")
                for item in pc.value_counts(licenses).to_pylist():
                    _add(result.licenses, str(item["values"]), int(item["counts"]))

    def finish(self) -> ScanResult:
        """The accumulated result."""
        for name, stats in self._ints.items():
            mean = round(stats.total / stats.count, 3) if stats.count else None
            self.result.numbers[name] = NumberSummary(name, stats.count, mean, stats.lo, stats.hi)
        return self.result


def _column_with_role(schema: pa.Schema, roles: dict[str, str], role: ColumnRole) -> str | None:
    """The first column of ``schema`` the run's stages gave ``role`` (``manifest.json``'s ``column_roles``)."""
    return next((name for name in schema.names if roles.get(name) == role), None)


def scan(run_dir: Path, terms: IdentityTerms, roles: dict[str, str] | None = None) -> ScanResult:
    """Stream every output file of ``run_dir`` through a :class:`Scanner`; ``roles``: column -> ColumnRole value."""
    files = list(route_files(run_dir))
    if not files:
        return ScanResult(audit=AuditCounter(terms))
    schemas = [pq.read_schema(path) for _, path in files]
    schema = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    scanner = Scanner(schema, [path for _, path in files], terms, roles)
    for route, path in files:
        parquet = pq.ParquetFile(path)
        present = [_read_name(c) for c in scanner.columns if c in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=present):
            scanner.add(route, _conform(batch, schema, scanner.columns))
    result = scanner.finish()
    result.uninherited = scanner.lineage.count([path for _, path in files])
    return result


def _conform(batch: pa.RecordBatch, schema: pa.Schema, columns: list[str]) -> pa.RecordBatch:
    """The batch with every scanned column, missing ones as nulls, in the unified types."""
    arrays = []
    for name in columns:
        index = batch.schema.get_field_index(name)
        if name == C.IMAGE:  # only its validity is used; read as struct<path> (see _read_name)
            arrays.append(batch.column(index) if index >= 0 else pa.nulls(batch.num_rows, pa.struct([])))
            continue
        kind = schema.field(name).type
        arrays.append(batch.column(index).cast(kind) if index >= 0 else pa.nulls(batch.num_rows, kind))
    return pa.RecordBatch.from_arrays(arrays, names=columns)


def _read_name(column: str) -> str:
    """Read only the image's path, never its bytes: the scan needs to know whether a row has one."""
    return f"{C.IMAGE}.path" if column == C.IMAGE else column
