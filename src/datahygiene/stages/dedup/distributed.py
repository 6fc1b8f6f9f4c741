"""Exact and near-duplicate text dedup beyond one machine's memory, as tasks over files.

signatures -> buckets -> clusters -> resolve -> filter.

Every step is a plain function over files in a work directory, so each call can be a Dask task (or Ray, or a
batch job). ``run`` chains them, in-process or through a ``dask.distributed.Client``. The decisions are the
``dedup`` stage's exactly (same ``dup_of``, ``dup_kind``, ``dup_similarity`` for every row, text kinds):

1. ``signatures`` (one task per input shard): exact key, MinHash signature per row (``features.compute``, the
   stage's own code), spilled as ``.npy``; every key a row carries (its exact key and its band keys) is written
   as ``(key, local row)`` (12 B) into one of K partition files by key hash.
2. ``buckets`` (one task per partition): rows that share a key form a bucket; every member gets an edge to the
   bucket's earliest member. Edges are *candidates*, not verified: they only say which rows can interact.
3. ``clusters`` (one task): connected components of the candidate edges (label propagation with pointer
   jumping, numpy). Two rows that share any key end up in the same component, so no decision depends on a row
   outside its component. Components are assigned to K partitions by a hash of their earliest row. Rows that
   share no key with any other row never become duplicates and are not carried further.
4. ``resolve`` (one task per partition): loads the signatures of the partition's rows only and runs the stage's
   matcher over them in global input order: each candidate is verified (estimated Jaccard >= ``threshold``),
   a row matches only earlier *representatives* (rows that are not duplicates themselves), exact beats near,
   the most similar wins, ties go to the earliest. Rows of other components cannot interfere (no shared keys),
   so this is the streaming stage's answer. Verifying only member -> earliest edges would not be: with
   A ~/~ B (band collision, J < threshold) and B ~ C, C is a duplicate of B, an edge the star does not have.
5. ``filter`` (one task per shard): the three columns for every row of the shard, aligned with its input.

Memory: a task holds one shard (signatures), one partition's keys (buckets), the candidate edges (clusters: 16 B
per edge, only rows that share a key with another row) or one partition's candidate rows (resolve). Text only;
the cross-run index (``--dedup-index``) and image/semantic kinds are not part of this path.
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

from datahygiene.core.stage import Batch
from datahygiene.stages.dedup import minhash
from datahygiene.stages.dedup.dedup_stage import OUTPUT_SCHEMA, Match, resolve_rows
from datahygiene.stages.dedup.features import Features, compute
from datahygiene.stages.dedup.keep import PRIORITY_COLUMNS, priority, visit_rank
from datahygiene.stages.dedup.lookahead import take_features
from datahygiene.stages.dedup.normalize import mix64
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.state import DedupState

Source: TypeAlias = Path | str | pa.Table  # a Parquet file or an in-memory table
I64 = npt.NDArray[np.int64]
_TEXT_OK, _SIG_OK = 1, 2
_RECORD = np.dtype([("key", "<u8"), ("row", "<u4")])  # a key and the shard-local row that carries it: 12 B


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


def _shard_dir(work: Path, shard: int) -> Path:
    return work / "shards" / f"{shard:05d}"


def _key_file(work: Path, shard: int, part: int) -> Path:
    return work / "keys" / f"{shard:05d}-{part:04d}.npy"


def _partition_of(keys: npt.NDArray[np.uint64], partitions: int) -> I64:
    return (mix64(keys) % np.uint64(partitions)).astype(np.int64)


def _batches(source: Source, batch_rows: int, params: DedupParams) -> Iterator[pa.RecordBatch]:
    """The columns the text kinds and the ``keep`` rule read."""
    wanted = ("id", *PRIORITY_COLUMNS, *((params.keep_score,) if params.keep_score else ()))
    if isinstance(source, pa.Table):
        yield from source.select([c for c in dict.fromkeys(wanted) if c in source.column_names]).to_batches(batch_rows)
        return
    parquet = pq.ParquetFile(str(source))
    columns = [c for c in dict.fromkeys(wanted) if c in parquet.schema_arrow.names]
    yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)


def signatures(source: Source, shard: int, work: Path, params: DedupParams, partitions: int) -> int:
    """Step 1 (per shard): features spilled to ``shards/NNNNN``, keys to ``keys/NNNNN-PPPP.npy``; returns rows."""
    tparams = text_params(params)
    out = _shard_dir(work, shard)
    out.mkdir(parents=True, exist_ok=True)
    (work / "keys").mkdir(parents=True, exist_ok=True)
    ids: list[pa.Array] = []
    flags: list[npt.NDArray[np.uint8]] = []
    sigs: list[npt.NDArray[np.uint32]] = []
    text_keys: list[npt.NDArray[np.uint64]] = []
    priorities: list[npt.NDArray[np.float64]] = []
    key_parts: list[list[npt.NDArray[np.void]]] = [[] for _ in range(partitions)]
    start = 0
    for records in _batches(source, 8192, params):
        n = records.num_rows
        if start + n > 1 << 32:
            raise ValueError(f"shard {shard} has over 2**32 rows; split it")
        feats = compute(Batch(records=records), tparams)
        priorities.append(priority(records, None, params.keep, params.keep_score))
        index = records.schema.get_field_index("id")
        raw = records.column(index).to_pylist() if index >= 0 else [""] * n
        ids.append(pa.array([str(v) for v in raw], type=pa.string()))  # as the stage spells ids
        text_ok = feats.text_ok if feats.text_ok is not None else np.zeros(n, dtype=np.bool_)
        sig_ok = feats.sig_ok if feats.sig_ok is not None else np.zeros(n, dtype=np.bool_)
        flags.append((text_ok * _TEXT_OK + sig_ok * _SIG_OK).astype(np.uint8))
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
        if keys:
            pairs = np.empty(sum(map(len, keys)), dtype=_RECORD)
            pairs["key"], pairs["row"] = np.concatenate(keys), np.concatenate(rows)
            part = _partition_of(pairs["key"], partitions)
            for p in range(partitions):
                key_parts[p].append(pairs[part == p])
        start += n
    np.save(out / "flags.npy", np.concatenate(flags) if flags else np.zeros(0, np.uint8))
    np.save(out / "priority.npy", np.concatenate(priorities) if priorities else np.zeros(0, np.float64))
    if text_keys:
        np.save(out / "text_key.npy", np.concatenate(text_keys))
    if sigs:
        np.save(out / "sigs.npy", np.concatenate(sigs))
    pq.write_table(pa.table({"id": pa.concat_arrays(ids) if ids else pa.array([], pa.string())}), out / "ids.parquet")
    for p in range(partitions):
        np.save(_key_file(work, shard, p), np.concatenate(key_parts[p]) if key_parts[p] else np.zeros(0, _RECORD))
    return start


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
    edges = np.concatenate([np.load(work / "edges" / f"{p:04d}.npy") for p in range(partitions)])
    nodes = np.unique(edges.reshape(-1))
    a, b = np.searchsorted(nodes, edges[:, 0]), np.searchsorted(nodes, edges[:, 1])
    root = nodes[components(a, b, len(nodes))]
    part = _partition_of(root.astype(np.uint64), partitions)
    (work / "members").mkdir(parents=True, exist_ok=True)
    for p in range(partitions):
        np.save(work / "members" / f"{p:04d}.npy", nodes[part == p])
    return len(nodes)


def _load_rows(
    work: Path, rows: I64, offsets: Sequence[int], params: DedupParams
) -> tuple[Features, list[str], npt.NDArray[np.float64]]:
    """The spilled features, ids and ``keep`` priorities of ``rows`` (sorted global row numbers), reading only
    those rows of each shard."""
    n = len(rows)
    flags = np.zeros(n, dtype=np.uint8)
    priorities = np.zeros(n, dtype=np.float64)
    text_key = np.zeros(n, dtype=np.uint64) if params.exact.text else None
    sigs = np.zeros((n, params.near_text.num_perm), dtype=np.uint32) if params.near_text.enabled else None
    ids: list[str] = [""] * n
    for shard in range(len(offsets) - 1):
        lo, hi = np.searchsorted(rows, [offsets[shard], offsets[shard + 1]])
        if lo == hi:
            continue
        local = rows[lo:hi] - offsets[shard]
        folder = _shard_dir(work, shard)
        flags[lo:hi] = np.load(folder / "flags.npy", mmap_mode="r")[local]
        priorities[lo:hi] = np.load(folder / "priority.npy", mmap_mode="r")[local]
        if text_key is not None:
            text_key[lo:hi] = np.load(folder / "text_key.npy", mmap_mode="r")[local]
        if sigs is not None:
            sigs[lo:hi] = np.load(folder / "sigs.npy", mmap_mode="r")[local]
        shard_ids = pq.read_table(folder / "ids.parquet").column("id")
        ids[lo:hi] = shard_ids.take(pa.array(local)).to_pylist()
    near = params.near_text
    feats = Features(rows=n, image_ok=np.zeros(n, dtype=np.bool_))
    if text_key is not None:
        feats.text_key, feats.text_ok = text_key, (flags & _TEXT_OK) > 0
    if sigs is not None:
        feats.sigs, feats.sig_ok = sigs, (flags & _SIG_OK) > 0
        feats.bands = minhash.band_keys(sigs, near.bands, near.num_perm // near.bands)
    return feats, ids, priorities


def resolve(work: Path, part: int, offsets: Sequence[int], params: DedupParams) -> int:
    """Step 4 (per partition): the stage's matcher over the partition's rows; ``decisions/PPPP.parquet``."""
    tparams = text_params(params)
    rows = np.load(work / "members" / f"{part:04d}.npy")
    feats, ids, priorities = _load_rows(work, rows, offsets, tparams)
    # the stage visits shards in input order and each shard's rows in ``keep`` order (dedup.keep.visit_order)
    shard_of = np.searchsorted(np.asarray(offsets), rows, side="right") - 1
    order = np.lexsort((visit_rank(priorities, shard_of), shard_of))
    state = DedupState(tparams.near_text.num_perm, tparams.fingerprint())
    visited = resolve_rows(state, tparams, take_features(feats, order), [ids[i] for i in order.tolist()])
    matches: list[Match | None] = [None] * len(rows)
    for position, match in zip(order.tolist(), visited, strict=True):
        matches[position] = match
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
    spilled = sum(f.stat().st_size for d in ("shards", "keys", "edges") for f in (work / d).rglob("*") if f.is_file())
    candidates = _map(client, clusters, [(work, partitions)])[0]
    dups = _map(client, resolve, [(work, p, offsets, params) for p in range(partitions)])
    outputs = _map(client, filter_shard, [(work, s, offsets, partitions) for s in range(len(sources))])
    if not keep_spill:
        for name in ("shards", "keys", "edges", "members", "decisions"):
            shutil.rmtree(work / name, ignore_errors=True)
    summary = {
        "rows": offsets[-1],
        "spilled_bytes": spilled,
        "candidate_edges": sum(edges),
        "candidate_rows": candidates,
        "duplicates": sum(dups),
    }
    return outputs, summary
