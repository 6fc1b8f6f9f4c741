"""Exact and near-duplicate text and images beyond one machine's memory, as tasks over files.

signatures -> buckets (+ image edges) -> clusters -> resolve -> filter.

Every step is a plain function over files in a work directory, so each call can be a Dask task (or Ray, or a
batch job). ``run`` chains them, in-process or through a ``dask.distributed.Client``. The decisions are the
``dedup`` stage's exactly (same ``dup_of``, ``dup_kind``, ``dup_similarity`` for every row; text and image kinds,
``text_on_image_rows`` included; semantic is off here):

1. ``signatures`` (one task per input shard): the stage's features per row (``features.compute``, with pictures
   decoded by the runner's decoder), spilled as ``.npy``; every exact key a row carries (text, image bytes,
   pixels) and its band keys are written as ``(key, local row)`` (12 B) into one of K partition files by key
   hash, and its pHash substrings into K insert files (:mod:`partition_images`).
2. ``buckets`` (one task per partition): rows that share a key form a bucket; every member gets an edge to the
   bucket's earliest member. ``image_edges`` (one task per shard and partition): each picture's pHash probes
   (the stage's own multi-index search) looked up in the partition's inserts; every hit is an edge. Edges are
   *candidates*, not verified: they only say which rows can interact.
3. ``clusters`` (one task): connected components of the candidate edges (label propagation with pointer
   jumping, numpy). Two rows that the stage could compare end up in the same component, so no decision depends
   on a row outside its component. Components are assigned to K partitions by a hash of their earliest row.
   Rows that share no key with any other row never become duplicates and are not carried further.
4. ``resolve`` (one task per partition): loads the features of the partition's rows only and runs the stage's
   matcher over them in global input order: each candidate is verified (estimated Jaccard >= ``threshold``,
   Hamming distance <= ``radius``), a row matches only earlier *representatives* (rows that are not duplicates
   themselves), exact beats near, the most similar wins, ties go to the earliest. Rows of other components
   cannot interfere, so this is the streaming stage's answer. Verifying only member -> earliest edges would not
   be: with A ~/~ B (band collision, J < threshold) and B ~ C, C is a duplicate of B, an edge the star lacks.
5. ``filter`` (one task per shard): the three columns for every row of the shard, aligned with its input.

Memory: a task holds one shard (features), one partition's keys (buckets), one partition's inserts plus one
shard's probes in chunks (image edges), the candidate edges (clusters: 16 B per edge, only rows that share a key
with another row) or one partition's candidate rows (resolve). Not here: semantic dedup and the cross-run index
(``--dedup-index``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.core.config import InputLimits
from datahygiene.core.reasons import Reasons
from datahygiene.core.stage import Batch
from datahygiene.io.decode import decode_images
from datahygiene.stages.dedup import minhash
from datahygiene.stages.dedup import partition_images as images
from datahygiene.stages.dedup.dedup_stage import OUTPUT_SCHEMA, resolve_rows
from datahygiene.stages.dedup.features import Features, compute
from datahygiene.stages.dedup.normalize import mix64
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.state import DedupState

Source: TypeAlias = Path | str | pa.Table  # a Parquet file or an in-memory table
I64 = npt.NDArray[np.int64]
_TEXT_OK, _SIG_OK, _IMAGE_OK, _BYTES_OK = 1, 2, 4, 8
_RECORD = np.dtype([("key", "<u8"), ("row", "<u4")])  # a key and the shard-local row that carries it: 12 B
_COLUMNS = ("id", "text", "image")


class TaskClient(Protocol):
    """What ``run`` needs of a scheduler (a ``dask.distributed.Client`` fits)."""

    def submit(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    def gather(self, futures: Any) -> Any: ...


def text_params(params: DedupParams) -> DedupParams:
    """The text kinds of ``params`` only (image and semantic kinds off)."""
    data = params.model_dump()
    data["exact"].update(image_bytes=False, image_pixels=False)
    data["near_image"]["enabled"] = False
    data["semantic"]["enabled"] = False
    return DedupParams.model_validate(data)


def partition_params(params: DedupParams) -> DedupParams:
    """The kinds this path decides: text and image (semantic off: it needs the embeddings' range search)."""
    data = params.model_dump()
    data["semantic"]["enabled"] = False
    return DedupParams.model_validate(data)


def _shard_dir(work: Path, shard: int) -> Path:
    return work / "shards" / f"{shard:05d}"


def _key_file(work: Path, shard: int, part: int) -> Path:
    return work / "keys" / f"{shard:05d}-{part:04d}.npy"


def _partition_of(keys: npt.NDArray[np.uint64], partitions: int) -> I64:
    return (mix64(keys) % np.uint64(partitions)).astype(np.int64)


def _batches(source: Source, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if isinstance(source, pa.Table):
        yield from source.select([c for c in _COLUMNS if c in source.column_names]).to_batches(batch_rows)
        return
    parquet = pq.ParquetFile(str(source))
    columns = [c for c in _COLUMNS if c in parquet.schema_arrow.names]
    yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)


def signatures(source: Source, shard: int, work: Path, params: DedupParams, partitions: int) -> int:
    """Step 1 (per shard): features spilled to ``shards/NNNNN``, keys to ``keys/NNNNN-PPPP.npy``; returns rows.

    Pictures are decoded as the runner decodes them (same function, default limits); their pHash substrings
    go to ``inserts/NNNNN-PPPP.npy`` (see :mod:`partition_images`).
    """
    tparams = partition_params(params)
    out = _shard_dir(work, shard)
    out.mkdir(parents=True, exist_ok=True)
    (work / "keys").mkdir(parents=True, exist_ok=True)
    ids: list[pa.Array] = []
    flags: list[npt.NDArray[np.uint8]] = []
    sigs: list[npt.NDArray[np.uint32]] = []
    text_keys: list[npt.NDArray[np.uint64]] = []
    key_parts: list[list[npt.NDArray[np.void]]] = [[] for _ in range(partitions)]
    insert_parts: list[list[npt.NDArray[np.void]]] = [[] for _ in range(partitions)]
    picture: dict[str, list[npt.NDArray[Any]]] = {"bytes_key": [], "pixel_key": [], "ph": [], "ph_flip": []}
    limits = InputLimits()
    start = 0
    for records in _batches(source, 8192):
        n = records.num_rows
        if start + n > 1 << 32:
            raise ValueError(f"shard {shard} has over 2**32 rows; split it")
        decoded = None
        if "image" in records.schema.names and records.column("image").null_count < n:
            decoded = decode_images(
                records.column("image"),
                Reasons(n),
                max_pixels=limits.max_image_pixels,
                max_bytes=limits.max_image_bytes,
            )
        feats = compute(Batch(records=records, images=decoded), tparams)
        index = records.schema.get_field_index("id")
        raw = records.column(index).to_pylist() if index >= 0 else [""] * n
        ids.append(pa.array([str(v) for v in raw], type=pa.string()))  # as the stage spells ids
        text_ok = feats.text_ok if feats.text_ok is not None else np.zeros(n, dtype=np.bool_)
        sig_ok = feats.sig_ok if feats.sig_ok is not None else np.zeros(n, dtype=np.bool_)
        bytes_ok = feats.bytes_ok if feats.bytes_ok is not None else np.zeros(n, dtype=np.bool_)
        image_ok = feats.image_ok
        flags.append(
            (text_ok * _TEXT_OK + sig_ok * _SIG_OK + image_ok * _IMAGE_OK + bytes_ok * _BYTES_OK).astype(np.uint8)
        )
        local = np.arange(start, start + n, dtype=np.uint32)
        keys: list[npt.NDArray[np.uint64]] = []
        rows: list[npt.NDArray[np.uint32]] = []
        if feats.text_key is not None:
            text_keys.append(feats.text_key)
            keys.append(feats.text_key[text_ok])
            rows.append(local[text_ok])
        if feats.sigs is not None and feats.bands is not None:
            sigs.append(feats.sigs)
            bands = feats.bands[sig_ok]
            keys.append(bands.reshape(-1))
            rows.append(np.repeat(local[sig_ok], bands.shape[1]))
        for name, salt, ok in (("bytes_key", images.SALT_BYTES, bytes_ok), ("pixel_key", images.SALT_PIXELS, image_ok)):
            values = getattr(feats, name)
            if values is not None:
                picture[name].append(values)
                keys.append(images.salted(values[ok], salt))
                rows.append(local[ok])
        if feats.ph is not None and feats.ph_flip is not None:
            picture["ph"].append(feats.ph)
            picture["ph_flip"].append(feats.ph_flip)
            mih, mih_rows = images.insert_records(feats.ph[image_ok], local[image_ok], tparams)
            _to_partitions(insert_parts, mih, mih_rows, partitions)
        if keys:
            _to_partitions(key_parts, np.concatenate(keys), np.concatenate(rows), partitions)
        start += n
    np.save(out / "flags.npy", np.concatenate(flags) if flags else np.zeros(0, np.uint8))
    if text_keys:
        np.save(out / "text_key.npy", np.concatenate(text_keys))
    if sigs:
        np.save(out / "sigs.npy", np.concatenate(sigs))
    for name, parts in picture.items():
        if parts:
            np.save(out / f"{name}.npy", np.concatenate(parts))
    pq.write_table(pa.table({"id": pa.concat_arrays(ids) if ids else pa.array([], pa.string())}), out / "ids.parquet")
    (work / "inserts").mkdir(parents=True, exist_ok=True)
    for p in range(partitions):
        np.save(_key_file(work, shard, p), np.concatenate(key_parts[p]) if key_parts[p] else np.zeros(0, _RECORD))
        inserts = np.concatenate(insert_parts[p]) if insert_parts[p] else np.zeros(0, _RECORD)
        np.save(images.insert_file(work, shard, p), inserts)
    return start


def _to_partitions(
    parts: list[list[npt.NDArray[np.void]]], keys: npt.NDArray[np.uint64], rows: npt.NDArray[np.uint32], count: int
) -> None:
    """Append ``(key, row)`` records to the partition each key hashes to."""
    pairs = np.empty(len(keys), dtype=_RECORD)
    pairs["key"], pairs["row"] = keys, rows
    part = _partition_of(pairs["key"], count)
    for p in range(count):
        parts[p].append(pairs[part == p])


def image_edges(
    work: Path, shards: Sequence[int], part: int, offsets: Sequence[int], params: DedupParams, partitions: int
) -> int:
    """Step 2b (per group of shards and partition): near-image candidate edges, ``edges/img-SSSSS-PPPP.npy``."""
    tparams = partition_params(params)
    folders = [_shard_dir(work, shard) for shard in shards]
    return images.probe_edges(work, list(shards), part, list(offsets), tparams, partitions, folders)


def buckets(work: Path, part: int, offsets: Sequence[int]) -> int:
    """Step 2 (per partition): candidate edges member -> earliest member of each bucket, ``edges/PPPP.npy``."""
    keys: list[npt.NDArray[np.uint64]] = []
    rows: list[I64] = []
    for shard in range(len(offsets) - 1):
        pairs = np.load(_key_file(work, shard, part))
        keys.append(pairs["key"])
        rows.append(pairs["row"].astype(np.int64) + offsets[shard])
    key, row = np.concatenate(keys), np.concatenate(rows)
    order = np.lexsort((row, key))
    key, row = key[order], row[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=np.bool_)
    earliest = row[np.flatnonzero(first)][np.cumsum(first) - 1]
    edges = np.stack([row, earliest], axis=1)[~first & (row != earliest)]
    edges = np.unique(edges, axis=0) if len(edges) else np.zeros((0, 2), np.int64)
    (work / "edges").mkdir(parents=True, exist_ok=True)
    np.save(work / "edges" / f"{part:04d}.npy", edges)
    return len(edges)


def components(a: I64, b: I64, nodes: int) -> I64:
    """Per node, the smallest node of its connected component (edges ``a[i] - b[i]``, nodes ``0..nodes-1``)."""
    labels = np.arange(nodes, dtype=np.int64)
    while True:
        la, lb = labels[a], labels[b]
        if np.array_equal(la, lb):
            return labels
        low = np.minimum(la, lb)
        for index in (la, lb, a, b):  # hook both roots and both ends onto the smaller label
            np.minimum.at(labels, index, low)
        while True:  # pointer jumping until every label is a root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped


def clusters(work: Path, partitions: int) -> int:
    """Step 3: connected components of all candidate edges; ``members/PPPP.npy`` rows per resolve partition."""
    edges = np.concatenate([np.load(path) for path in sorted((work / "edges").glob("*.npy"))])
    nodes = np.unique(edges.reshape(-1))
    a, b = np.searchsorted(nodes, edges[:, 0]), np.searchsorted(nodes, edges[:, 1])
    root = nodes[components(a, b, len(nodes))]
    part = _partition_of(root.astype(np.uint64), partitions)
    (work / "members").mkdir(parents=True, exist_ok=True)
    for p in range(partitions):
        np.save(work / "members" / f"{p:04d}.npy", nodes[part == p])
    return len(nodes)


def _load_rows(work: Path, rows: I64, offsets: Sequence[int], params: DedupParams) -> tuple[Features, list[str]]:
    """The spilled features of ``rows`` (sorted global row numbers), reading only those rows of each shard."""
    n = len(rows)
    flags = np.zeros(n, dtype=np.uint8)
    text_key = np.zeros(n, dtype=np.uint64) if params.exact.text else None
    sigs = np.zeros((n, params.near_text.num_perm), dtype=np.uint32) if params.near_text.enabled else None
    picture = {name: np.zeros(n, dtype=np.uint64) for name in ("bytes_key", "pixel_key", "ph", "ph_flip")}
    ids: list[str] = [""] * n
    for shard in range(len(offsets) - 1):
        lo, hi = np.searchsorted(rows, [offsets[shard], offsets[shard + 1]])
        if lo == hi:
            continue
        local = rows[lo:hi] - offsets[shard]
        folder = _shard_dir(work, shard)
        flags[lo:hi] = np.load(folder / "flags.npy", mmap_mode="r")[local]
        if text_key is not None:
            text_key[lo:hi] = np.load(folder / "text_key.npy", mmap_mode="r")[local]
        if sigs is not None:
            sigs[lo:hi] = np.load(folder / "sigs.npy", mmap_mode="r")[local]
        for name, values in picture.items():
            if (folder / f"{name}.npy").exists():
                values[lo:hi] = np.load(folder / f"{name}.npy", mmap_mode="r")[local]
        shard_ids = pq.read_table(folder / "ids.parquet").column("id")
        ids[lo:hi] = shard_ids.take(pa.array(local)).to_pylist()
    near = params.near_text
    feats = Features(rows=n, image_ok=(flags & _IMAGE_OK) > 0)
    if params.exact.image_bytes:
        feats.bytes_key, feats.bytes_ok = picture["bytes_key"], (flags & _BYTES_OK) > 0
    if params.exact.image_pixels:
        feats.pixel_key = picture["pixel_key"]
    if params.near_image.enabled:
        feats.ph, feats.ph_flip = picture["ph"], picture["ph_flip"]
    if text_key is not None:
        feats.text_key, feats.text_ok = text_key, (flags & _TEXT_OK) > 0
    if sigs is not None:
        feats.sigs, feats.sig_ok = sigs, (flags & _SIG_OK) > 0
        feats.bands = minhash.band_keys(sigs, near.bands, near.num_perm // near.bands)
    return feats, ids


def resolve(work: Path, part: int, offsets: Sequence[int], params: DedupParams) -> int:
    """Step 4 (per partition): the stage's matcher over the partition's rows; ``decisions/PPPP.parquet``."""
    tparams = partition_params(params)
    rows = np.load(work / "members" / f"{part:04d}.npy")
    feats, ids = _load_rows(work, rows, offsets, tparams)
    state = DedupState(tparams.near_text.num_perm, tparams.fingerprint())
    matches = resolve_rows(state, tparams, feats, ids)
    dup = [i for i, m in enumerate(matches) if m is not None]
    found = [m for m in matches if m is not None]
    table = pa.table(
        {
            "row": pa.array(rows[dup] if dup else np.zeros(0, np.int64), type=pa.int64()),
            "dup_of": pa.array([m[0] for m in found], type=pa.string()),
            "dup_kind": pa.array([m[1] for m in found], type=pa.string()),
            "dup_similarity": pa.array([m[2] for m in found], type=pa.float32()),
        }
    )
    (work / "decisions").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, work / "decisions" / f"{part:04d}.parquet")
    return len(dup)


def filter_shard(work: Path, shard: int, offsets: Sequence[int], partitions: int) -> Path:
    """Step 5 (per shard): ``out/NNNNN.parquet`` with ``id`` and the stage's three columns, one row per input row."""
    lo, hi = offsets[shard], offsets[shard + 1]
    ids = pq.read_table(_shard_dir(work, shard) / "ids.parquet").column("id")
    dup_of: list[str | None] = [None] * (hi - lo)
    kind: list[str | None] = [None] * (hi - lo)
    sim: list[float | None] = [None] * (hi - lo)
    for p in range(partitions):
        found = pq.read_table(work / "decisions" / f"{p:04d}.parquet", filters=[("row", ">=", lo), ("row", "<", hi)])
        for row, of, k, s in zip(*(found.column(c).to_pylist() for c in found.column_names), strict=True):
            dup_of[row - lo], kind[row - lo], sim[row - lo] = of, k, s
    values = (dup_of, kind, sim)
    columns = {f.name: pa.array(v, type=f.type) for f, v in zip(OUTPUT_SCHEMA, values, strict=True)}
    out = work / "out" / f"{shard:05d}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ids, **columns}), out)
    return out


def _map(client: TaskClient | None, func: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``func(*args)`` for every call, as tasks on ``client`` when given, else here in order."""
    if client is None:
        return [func(*args) for args in calls]
    futures = [client.submit(func, *args, pure=False) for args in calls]
    return list(client.gather(futures))


def run(
    sources: Sequence[Source],
    work: Path,
    params: DedupParams | None = None,
    *,
    partitions: int = 4,
    client: TaskClient | None = None,
    keep_spill: bool = False,
) -> tuple[list[Path], dict[str, Any]]:
    """All five steps over ``sources`` (Parquet files or tables with ``id`` and ``text``, in input order).

    Returns the per-shard output files (``work/out``) and a summary (rows, spilled bytes, edges, duplicates).
    The spill folders are removed afterwards unless ``keep_spill``.
    """
    params = params or DedupParams()
    work.mkdir(parents=True, exist_ok=True)
    counts = _map(client, signatures, [(s, i, work, params, partitions) for i, s in enumerate(sources)])
    offsets = [0, *np.cumsum(counts).tolist()]
    edges = _map(client, buckets, [(work, p, offsets) for p in range(partitions)])
    # Shards in `partitions` groups: each task reads one partition's inserts once for its group of shards.
    groups = [list(g) for g in np.array_split(np.arange(len(sources)), min(len(sources), partitions)) if len(g)]
    edges += _map(
        client,
        image_edges,
        [(work, [int(s) for s in g], p, offsets, params, partitions) for g in groups for p in range(partitions)],
    )
    spilled = sum(
        f.stat().st_size for d in ("shards", "keys", "inserts", "edges") for f in (work / d).rglob("*") if f.is_file()
    )
    candidates = _map(client, clusters, [(work, partitions)])[0]
    dups = _map(client, resolve, [(work, p, offsets, params) for p in range(partitions)])
    outputs = _map(client, filter_shard, [(work, s, offsets, partitions) for s in range(len(sources))])
    if not keep_spill:
        for name in ("shards", "keys", "inserts", "edges", "members", "decisions"):
            shutil.rmtree(work / name, ignore_errors=True)
    summary = {
        "rows": offsets[-1],
        "spilled_bytes": spilled,
        "candidate_edges": sum(edges),
        "candidate_rows": candidates,
        "duplicates": sum(dups),
    }
    return outputs, summary
