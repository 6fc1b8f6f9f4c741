"""Per-source files of the partitioned dedup path: features, key records, and candidates moved to partitions.

A *source* is an input shard (``00000``, ``00001`` ...) or a segment of the cross-run index (``i00000`` ...).
:class:`Layout` numbers every row of every source in one global order: index representatives first (negative
numbers, in index order), then the shards' rows in input order. A source's files in the work area:

* ``shards/NAME/`` its features, one array per kind, one entry per row (``flags.npy``: which kinds a row has;
  ``text_key``, ``sigs``, ``bytes_key``, ``pixel_key``, ``ph``, ``ph_flip``; ``priority.npy``: how strongly the
  ``keep`` rule wants the row kept; ``ids.parquet``);
* ``keys/NAME-PPPP.npy`` every exact and band key a row carries, as ``(key, local row)`` records (12 B), in the
  partition the key hashes to; ``inserts/NAME-PPPP.npy`` the pHash substrings a picture is indexed under;
* ``cands/NAME-PPPP.npz`` (:func:`scatter`, after ``clusters``): the features of the source's candidate rows
  whose component resolves in partition PPPP, so each ``resolve`` task reads only its own rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from datahygiene.core.stage import Batch
from datahygiene.io.workarea import WorkArea
from datahygiene.stages.dedup import minhash
from datahygiene.stages.dedup import partition_images as images
from datahygiene.stages.dedup.dedup_stage import OUTPUT_SCHEMA
from datahygiene.stages.dedup.features import Features, compute
from datahygiene.stages.dedup.keep import priority
from datahygiene.stages.dedup.layout import (
    BYTES_OK,
    IMAGE_OK,
    RECORD,
    SIG_OK,
    TEXT_OK,
    Layout,
    insert_file,
    key_file,
    partition_of,
    partition_params,
)
from datahygiene.stages.dedup.params import DedupParams

I64 = npt.NDArray[np.int64]
_ARRAYS = ("text_key", "sigs", "bytes_key", "pixel_key", "ph", "ph_flip")

# -- step 1: features and keys of one source --------------------------------------------------------


def flags_of(feats: Features) -> npt.NDArray[np.uint8]:
    """Per row, the bits of the kinds it has (text key, signature, decoded picture, file bytes)."""
    n = feats.rows
    none = np.zeros(n, dtype=np.bool_)
    text_ok = feats.text_ok if feats.text_ok is not None else none
    sig_ok = feats.sig_ok if feats.sig_ok is not None else none
    bytes_ok = feats.bytes_ok if feats.bytes_ok is not None else none
    image_ok = feats.image_ok if len(feats.image_ok) == n else none
    bits = text_ok * TEXT_OK + sig_ok * SIG_OK + image_ok * IMAGE_OK + bytes_ok * BYTES_OK
    return np.asarray(bits, dtype=np.uint8)


class SourceSpill:
    """Gathers one source's features batch by batch; :meth:`close` writes its files to the work area."""

    def __init__(self, work: WorkArea, name: str, params: DedupParams, partitions: int) -> None:
        self.work, self.name, self.partitions = work, name, partitions
        self.params = partition_params(params)
        self.keep, self.keep_score = params.keep, params.keep_score
        self.rows = 0
        self.priorities: list[npt.NDArray[np.float64]] = []
        self.ids: list[pa.Array] = []
        self.flags: list[npt.NDArray[np.uint8]] = []
        self.arrays: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in _ARRAYS}
        self.keys: list[list[npt.NDArray[np.void]]] = [[] for _ in range(partitions)]
        self.inserts: list[list[npt.NDArray[np.void]]] = [[] for _ in range(partitions)]

    def add(self, batch: Batch) -> None:
        """The features of the next batch of the source (pictures decoded as the runner decodes them)."""
        rank = priority(batch.records, batch.images, self.keep, self.keep_score)
        self.add_features(compute(batch, self.params), _ids(batch), rank)

    def add_features(self, feats: Features, ids: pa.Array, rank: npt.NDArray[np.float64] | None = None) -> None:
        """Rows given as features (the index's representatives come this way); ``rank``: their ``keep`` priority."""
        n = feats.rows
        self.priorities.append(np.zeros(n, np.float64) if rank is None else np.asarray(rank, np.float64))
        if self.rows + n > 1 << 32:
            raise ValueError(f"dedup source {self.name} has over 2**32 rows; split it")
        flags = flags_of(feats)
        self.ids.append(ids)
        self.flags.append(flags)
        for name in _ARRAYS:
            value = getattr(feats, name)
            if value is not None:
                self.arrays[name].append(value)
        local = np.arange(self.rows, self.rows + n, dtype=np.uint32)
        keys: list[npt.NDArray[np.uint64]] = []
        rows: list[npt.NDArray[np.uint32]] = []
        text_ok, sig_ok = (flags & TEXT_OK) > 0, (flags & SIG_OK) > 0
        image_ok, bytes_ok = (flags & IMAGE_OK) > 0, (flags & BYTES_OK) > 0
        if feats.text_key is not None:
            keys.append(feats.text_key[text_ok])
            rows.append(local[text_ok])
        if feats.sigs is not None:
            near = self.params.near_text
            bands = minhash.band_keys(feats.sigs[sig_ok], near.bands, near.num_perm // near.bands)
            keys.append(bands.reshape(-1))
            rows.append(np.repeat(local[sig_ok], bands.shape[1]))
        for name, salt, ok in (("bytes_key", images.SALT_BYTES, bytes_ok), ("pixel_key", images.SALT_PIXELS, image_ok)):
            values = getattr(feats, name)
            if values is not None:
                keys.append(images.salted(values[ok], salt))
                rows.append(local[ok])
        if feats.ph is not None:
            mih, mih_rows = images.insert_records(feats.ph[image_ok], local[image_ok], self.params)
            _to_partitions(self.inserts, mih, mih_rows, self.partitions)
        if keys:
            _to_partitions(self.keys, np.concatenate(keys), np.concatenate(rows), self.partitions)
        self.rows += n

    def close(self) -> int:
        """Write the source's files; returns its row count."""
        work, folder = self.work, f"shards/{self.name}"
        work.save_array(f"{folder}/flags.npy", np.concatenate(self.flags) if self.flags else np.zeros(0, np.uint8))
        ranks = np.concatenate(self.priorities) if self.priorities else np.zeros(0, np.float64)
        work.save_array(f"{folder}/priority.npy", ranks)
        for name, parts in self.arrays.items():
            if parts:
                work.save_array(f"{folder}/{name}.npy", np.concatenate(parts))
        ids = pa.concat_arrays(self.ids) if self.ids else pa.array([], pa.string())
        work.write_table(f"{folder}/ids.parquet", pa.table({"id": ids}))
        for p in range(self.partitions):
            keys = np.concatenate(self.keys[p]) if self.keys[p] else np.zeros(0, RECORD)
            work.save_array(key_file(self.name, p), keys)
            inserts = np.concatenate(self.inserts[p]) if self.inserts[p] else np.zeros(0, RECORD)
            work.save_array(insert_file(self.name, p), inserts)
        return self.rows


def _ids(batch: Batch) -> pa.Array:
    """The batch's ids as the stage spells them (``str`` of each value; empty without an id column)."""
    column = batch.column("id")
    if column is None:
        return pa.array([""] * batch.num_rows, pa.string())
    if pa.types.is_string(column.type) and column.null_count == 0:
        return column
    return pa.array([str(v) for v in column.to_pylist()], pa.string())


def _to_partitions(
    parts: list[list[npt.NDArray[np.void]]], keys: npt.NDArray[np.uint64], rows: npt.NDArray[np.uint32], count: int
) -> None:
    """Append ``(key, row)`` records to the partition each key hashes to."""
    pairs = np.empty(len(keys), dtype=RECORD)
    pairs["key"], pairs["row"] = keys, rows
    part = partition_of(pairs["key"], count)
    for p in range(count):
        parts[p].append(pairs[part == p])


# -- after clusters: candidates to their partitions --------------------------------------------------


def scatter(work: WorkArea, name: str, start: int, partitions: int) -> int:
    """Write ``cands/NAME-PPPP.npz`` for the source's candidate rows (``members/NAME.npz``); returns their count."""
    if not work.exists(f"members/{name}.npz"):
        return 0
    members = work.load_arrays(f"members/{name}.npz")
    local, parts = members["rows"].astype(np.int64), members["parts"]
    folder = f"shards/{name}"
    present = set(work.names(folder))
    flags = work.load_array(f"{folder}/flags.npy")
    arrays = {n: work.load_array(f"{folder}/{n}.npy") for n in _ARRAYS if f"{folder}/{n}.npy" in present}
    ranks = work.load_array(f"{folder}/priority.npy")
    ids = work.read_table(f"{folder}/ids.parquet").column("id").combine_chunks()
    for p in range(partitions):
        rows = local[parts == p]
        if len(rows) == 0:
            continue
        chosen = ids.take(pa.array(rows))
        offsets = np.frombuffer(chosen.buffers()[1], dtype=np.int32)[chosen.offset : chosen.offset + len(rows) + 1]
        data = chosen.buffers()[2]
        payload: dict[str, npt.NDArray[Any]] = {
            "rows": rows + start,
            "flags": flags[rows],
            "priority": ranks[rows],
            "ids_offsets": offsets.astype(np.int64) - int(offsets[0]),
            "ids_data": np.frombuffer(data, np.uint8)[int(offsets[0]) : int(offsets[-1])]
            if data is not None
            else np.zeros(0, np.uint8),
        }
        payload.update({n: values[rows] for n, values in arrays.items()})
        work.save_arrays(f"cands/{name}-{p:04d}.npz", payload)
    return len(local)


@dataclass
class Candidates:
    """The candidate rows of one partition (global numbers, ascending), their features, ids and ``keep`` priority."""

    rows: I64
    feats: Features
    ids: list[str]
    priorities: npt.NDArray[np.float64]

    def take(self, mask: npt.NDArray[np.bool_]) -> Candidates:
        """The rows where ``mask`` holds."""
        feats = Features(rows=int(mask.sum()))
        for spec in fields(Features):
            value = getattr(self.feats, spec.name)
            if spec.name != "rows":
                setattr(feats, spec.name, None if value is None else value[mask])
        chosen = np.flatnonzero(mask).tolist()
        return Candidates(self.rows[mask], feats, [self.ids[i] for i in chosen], self.priorities[mask])


def load_candidates(work: WorkArea, part: int, layout: Layout, params: DedupParams) -> Candidates:
    """Every source's candidates of partition ``part`` as one set of features, in global row order."""
    found = [
        work.load_arrays(f"cands/{name}-{part:04d}.npz")
        for name in layout.names
        if work.exists(f"cands/{name}-{part:04d}.npz")
    ]
    rows = np.concatenate([f["rows"] for f in found]) if found else np.zeros(0, np.int64)
    flags = np.concatenate([f["flags"] for f in found]) if found else np.zeros(0, np.uint8)
    ranks = np.concatenate([f["priority"] for f in found]) if found else np.zeros(0, np.float64)
    ids: list[str] = []
    for f in found:
        data, offsets = f["ids_data"].tobytes(), f["ids_offsets"].tolist()
        ids += [data[a:b].decode() for a, b in itertools.pairwise(offsets)]
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name in _ARRAYS:
        parts = [f[name] for f in found if name in f]
        if parts and len(parts) == len(found):
            arrays[name] = np.concatenate(parts)
        elif parts:  # some sources lack the kind (no text in a picture shard): zeros there, flags say unusable
            example = parts[0]
            arrays[name] = np.concatenate(
                [f[name] if name in f else np.zeros((len(f["rows"]), *example.shape[1:]), example.dtype) for f in found]
            )
    return Candidates(rows, _features(flags, arrays, params), ids, ranks)


def duplicates_of(work: WorkArea, name: str) -> pa.Table:
    """Every duplicate row of source ``name``: ``row`` (in the source), ``rep_row`` (its representative's row in
    the source, -1 when that is elsewhere), ``dup_of``, ``dup_kind``, ``dup_similarity``."""
    tables = [work.read_table(file) for file in work.names(f"decisions/{name}") if file.endswith(".parquet")]
    if not tables:
        empty = {"row": pa.array([], pa.int64()), "rep_row": pa.array([], pa.int64())}
        return pa.table({**empty, **{f.name: pa.array([], f.type) for f in OUTPUT_SCHEMA}})
    return pa.concat_tables(tables)


def source_rows(work: WorkArea, name: str, rows: I64, params: DedupParams) -> tuple[Features, pa.Array]:
    """The spilled features and ids of some rows of one source (``rows``: local numbers, in the order wanted)."""
    folder = f"shards/{name}"
    present = set(work.names(folder))
    flags = work.load_array(f"{folder}/flags.npy")[rows]
    arrays = {n: work.load_array(f"{folder}/{n}.npy")[rows] for n in _ARRAYS if f"{folder}/{n}.npy" in present}
    ids = work.read_table(f"{folder}/ids.parquet").column("id").combine_chunks().take(pa.array(rows))
    return _features(flags, arrays, params), ids


def _features(flags: npt.NDArray[np.uint8], arrays: dict[str, npt.NDArray[Any]], params: DedupParams) -> Features:
    """Features from spilled flags and arrays (a kind the params turn off stays ``None``)."""
    n = len(flags)
    feats = Features(rows=n, image_ok=(flags & IMAGE_OK) > 0)

    def array(name: str, dtype: Any, width: int = 0) -> npt.NDArray[Any]:
        value = arrays.get(name)
        return value if value is not None else np.zeros((n, width) if width else (n,), dtype=dtype)

    if params.exact.text:
        feats.text_key, feats.text_ok = array("text_key", np.uint64), (flags & TEXT_OK) > 0
    near = params.near_text
    if near.enabled:
        feats.sigs, feats.sig_ok = array("sigs", np.uint32, near.num_perm), (flags & SIG_OK) > 0
        feats.bands = minhash.band_keys(feats.sigs, near.bands, near.num_perm // near.bands)
    if params.exact.image_bytes:
        feats.bytes_key, feats.bytes_ok = array("bytes_key", np.uint64), (flags & BYTES_OK) > 0
    if params.exact.image_pixels:
        feats.pixel_key = array("pixel_key", np.uint64)
    if params.near_image.enabled:
        feats.ph, feats.ph_flip = array("ph", np.uint64), array("ph_flip", np.uint64)
    return feats
