"""Exact and near-duplicate text and images beyond one machine's memory, as tasks over files.

signatures -> buckets (+ image edges) -> clusters -> scatter -> resolve -> decisions per shard.

Every step is a plain function over files in a :class:`~datahygiene.io.workarea.WorkArea` (a local folder
every worker sees, or a prefix in an object store), so each call can be a Dask task (or Ray, or a batch
job, or a Prefect task: the flow runs them as its dedup phase, see ``flows/partitioned.py``). :func:`run`
chains them over Parquet files or tables, in-process or through a ``dask.distributed.Client``. The
decisions are the ``dedup`` stage's exactly (same ``dup_of``, ``dup_kind``, ``dup_similarity`` for every row;
text and image kinds, ``text_on_image_rows`` included; semantic is off here), also against the representatives
of earlier runs (``--dedup-index``, :mod:`.partition_index`). Sources and global row numbers:
:mod:`.layout`.

1. ``signatures`` (one task per source, :mod:`.spill`): the stage's features per row, spilled; every exact
   key a row carries (text, image bytes, pixels) and its band keys are written as ``(key, local row)`` (12 B)
   into one of K partition files by key hash, and its pHash substrings into K insert files
   (:mod:`.partition_images`). The index's segments are sources too: their representatives' keys are
   partitioned the same way, numbered before every row of the run.
2. ``buckets`` (one task per partition): rows that share a key form a bucket; every member gets an edge to the
   bucket's earliest member. ``image_edges`` (one task per group of shards and partition): each picture's
   pHash probes (the stage's own multi-index search) looked up in the partition's inserts; every hit is an
   edge. Edges are *candidates*, not verified: they only say which rows can interact.
3. ``clusters`` (one task): connected components of the candidate edges (label propagation with pointer
   jumping, numpy). Two rows that the stage could compare end up in the same component, so no decision depends
   on a row outside its component. Components are assigned to K partitions by a hash of their earliest row;
   ``members/NAME.npz`` says, per source, which of its rows go where. Rows that share no key with any other
   row never become duplicates and are not carried further.
4. ``scatter`` (one task per source): the features of its candidate rows, moved to their partitions.
5. ``resolve`` (one task per partition): the stage's matcher over the partition's rows, shard by shard and each
   shard's rows in ``keep`` order (:mod:`datahygiene.stages.dedup.keep`; input order for ``first``), with the
   index's representatives in them as the committed state: each candidate is verified (estimated
   Jaccard >= ``threshold``, Hamming distance <= ``radius``), a row matches only earlier *representatives*
   (rows that are not duplicates themselves), exact beats near, the most similar wins, ties go to the
   earliest. Rows of other components cannot interfere, so this is the streaming stage's answer. Verifying
   only member -> earliest edges would not be: with A ~/~ B (band collision, J < threshold) and B ~ C, C is a
   duplicate of B, an edge the star lacks. Decisions go to ``decisions/NAME/PPPP.parquet`` (duplicates only).
6. :func:`shard_decisions` (per shard, in the task that commits it): the three columns for every row of the
   shard, aligned with its input. :func:`filter_shard` (``run``'s last step) also writes the shard's ``inherit``
   columns with the kept rows' inherited signals (:mod:`datahygiene.stages.dedup.inherit`, within the shard, as
   the stage does); the flow's phase does the same in each commit task (``DedupPhase.amendments``).

Memory: a task holds one shard (features, scatter), one partition's keys (buckets), one partition's inserts
plus one shard's probes in chunks (image edges), the candidate edges (clusters: 16 B per edge, only rows that
share a key with another row) or one partition's candidate rows (resolve).
"""

from __future__ import annotations

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
from datahygiene.io.workarea import WorkArea
from datahygiene.stages.dedup import partition_images as images
from datahygiene.stages.dedup.dedup_stage import OUTPUT_SCHEMA
from datahygiene.stages.dedup.inherit import InheritedColumn, inherit
from datahygiene.stages.dedup.keep import PRIORITY_COLUMNS, visit_rank
from datahygiene.stages.dedup.layout import Layout, key_file, partition_of, partition_params
from datahygiene.stages.dedup.lookahead import take_features
from datahygiene.stages.dedup.matcher import Match
from datahygiene.stages.dedup.matcher import resolve as match_rows
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.partition_index import committed_state
from datahygiene.stages.dedup.spill import duplicates_of, load_candidates, scatter, spill_batches
from datahygiene.stages.dedup.state import DedupState

Source: TypeAlias = Path | str | pa.Table  # a Parquet file or an in-memory table
I64 = npt.NDArray[np.int64]
_COLUMNS = ("id", "text", "image")
#: What a step leaves in the work area (removed by :func:`cleanup`).
SPILL = ("shards", "keys", "inserts", "edges", "members", "cands", "decisions")


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


def _batches(source: Source, batch_rows: int, params: DedupParams) -> Iterator[pa.RecordBatch]:
    """The columns the text and image kinds and the ``keep`` rule read."""
    wanted = dict.fromkeys((*_COLUMNS, *PRIORITY_COLUMNS, *((params.keep_score,) if params.keep_score else ())))
    if isinstance(source, pa.Table):
        yield from source.select([c for c in wanted if c in source.column_names]).to_batches(batch_rows)
        return
    parquet = pq.ParquetFile(str(source))
    columns = [c for c in wanted if c in parquet.schema_arrow.names]
    yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)


def _decoded(source: Source, params: DedupParams) -> Iterator[Batch]:
    """A source's rows as batches, pictures decoded as the runner decodes them (same function, default limits)."""
    limits = InputLimits()
    for records in _batches(source, 8192, params):
        decoded = None
        if "image" in records.schema.names and records.column("image").null_count < records.num_rows:
            decoded = decode_images(
                records.column("image"),
                Reasons(records.num_rows),
                max_pixels=limits.max_image_pixels,
                max_bytes=limits.max_image_bytes,
            )
        yield Batch(records=records, images=decoded)


def signatures(source: Source, shard: int, work: WorkArea, params: DedupParams, partitions: int) -> int:
    """Step 1 (per shard of Parquet or a table): features, keys and inserts of its rows; returns rows."""
    return spill_batches(_decoded(source, params), f"{shard:05d}", work, params, partitions)


def buckets(work: WorkArea, part: int, layout: Layout) -> int:
    """Step 2 (per partition): candidate edges member -> earliest member of each bucket, ``edges/PPPP.npy``."""
    key, row = layout.gather(work, key_file, part)
    order = np.lexsort((row, key))
    key, row = key[order], row[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=np.bool_)
    earliest = row[np.flatnonzero(first)][np.cumsum(first) - 1]
    edges = np.stack([row, earliest], axis=1)[~first & (row != earliest)]
    edges = np.unique(edges, axis=0) if len(edges) else np.zeros((0, 2), np.int64)
    work.save_array(f"edges/{part:04d}.npy", edges)
    return len(edges)


def image_edges(work: WorkArea, shards: Sequence[str], part: int, layout: Layout, params: DedupParams, k: int) -> int:
    """Step 2b (per group of shards and partition): near-image candidate edges, ``edges/img-NAME-PPPP.npy``."""
    return images.probe_edges(work, list(shards), part, layout, partition_params(params), k)


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


def clusters(work: WorkArea, layout: Layout, partitions: int) -> int:
    """Step 3: connected components of all candidate edges; ``members/NAME.npz`` (rows, partition) per source."""
    found = [work.load_array(name) for name in work.names("edges") if name.endswith(".npy")]
    edges = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    nodes = np.unique(edges.reshape(-1))
    a, b = np.searchsorted(nodes, edges[:, 0]), np.searchsorted(nodes, edges[:, 1])
    root = nodes[components(a, b, len(nodes))]
    part = partition_of(root.astype(np.uint64), partitions)
    for name, start, count in zip(layout.names, layout.starts, layout.rows, strict=True):
        lo, hi = np.searchsorted(nodes, [start, start + count])
        if lo < hi:
            rows = (nodes[lo:hi] - start).astype(np.uint32)
            work.save_arrays(f"members/{name}.npz", {"rows": rows, "parts": part[lo:hi].astype(np.uint32)})
    return len(nodes)


def resolve(work: WorkArea, part: int, layout: Layout, params: DedupParams) -> int:
    """Step 5 (per partition): the stage's matcher over the partition's rows; ``decisions/NAME/PPPP.parquet``."""
    tparams = partition_params(params)
    candidates = load_candidates(work, part, layout, tparams)
    earlier = candidates.rows < 0  # representatives of earlier runs (the cross-run index)
    state = DedupState(tparams.near_text.num_perm, tparams.fingerprint())
    if earlier.any():
        state = committed_state(candidates.take(earlier), tparams)
    rows = candidates.take(~earlier)
    bounds = [*layout.starts, layout.starts[-1] + layout.rows[-1]] if layout.names else [0]
    source_of = np.searchsorted(np.asarray(bounds), rows.rows, side="right") - 1
    # the stage visits shards in input order and each shard's rows in ``keep`` order (dedup.keep.visit_order)
    order = np.lexsort((visit_rank(rows.priorities, source_of), source_of))
    visited = match_rows(state, tparams, take_features(rows.feats, order), [rows.ids[i] for i in order.tolist()])
    # representatives found here (state index -> global row); those of the index have no row of this run
    row_of_rep = {index: int(rows.rows[order[position]]) for position, index in visited.rep_of_row.items()}
    matches: list[Match | None] = [None] * len(rows.rows)
    rep_rows = np.full(len(rows.rows), -1, dtype=np.int64)
    for position, match, rep in zip(order.tolist(), visited.matches, visited.reps, strict=True):
        matches[position] = match
        if match is not None:
            rep_rows[position] = row_of_rep.get(rep, -1)
    dup = np.array([i for i, m in enumerate(matches) if m is not None], dtype=np.int64)
    found = [m for m in matches if m is not None]
    dup_rows, dup_reps, source = rows.rows[dup], rep_rows[dup], source_of[dup]
    for position in np.unique(source).tolist():
        name, start, count = layout.names[position], layout.starts[position], layout.rows[position]
        mine = np.flatnonzero(source == position).tolist()
        reps = dup_reps[mine]
        local = np.where((reps >= start) & (reps < start + count), reps - start, -1)  # inherit within a shard only
        table = pa.table(
            {
                "row": pa.array(dup_rows[mine] - start, type=pa.int64()),
                "rep_row": pa.array(local, type=pa.int64()),
                "dup_of": pa.array([found[i][0] for i in mine], type=pa.string()),
                "dup_kind": pa.array([found[i][1] for i in mine], type=pa.string()),
                "dup_similarity": pa.array([found[i][2] for i in mine], type=pa.float32()),
            }
        )
        work.write_table(f"decisions/{name}/{part:04d}.parquet", table)
    return len(dup)


def shard_decisions(work: WorkArea, name: str, rows: int) -> pa.Table:
    """Step 6 (per shard): ``dup_of``, ``dup_kind``, ``dup_similarity`` for each of the shard's ``rows`` rows."""
    found = duplicates_of(work, name)
    where = np.asarray(found.column("row").to_numpy(), dtype=np.int64)
    columns = {}
    for spec in OUTPUT_SCHEMA:
        values: list[Any] = [None] * rows
        for row, value in zip(where.tolist(), found.column(spec.name).to_pylist(), strict=True):
            values[row] = value
        columns[spec.name] = pa.array(values, type=spec.type)
    return pa.table(columns)


def _inherited_values(source: Source, params: DedupParams) -> tuple[list[InheritedColumn], dict[str, pa.ChunkedArray]]:
    """The ``inherit`` columns (and their evidence) that ``source`` has, read whole (one shard)."""
    specs = [InheritedColumn.named(name) for name in params.inherit]
    wanted = list(dict.fromkeys(name for spec in specs for name in spec.names))
    if isinstance(source, pa.Table):
        table = source.select([c for c in wanted if c in source.column_names])
    else:
        present = pq.ParquetFile(str(source)).schema_arrow.names
        table = pq.read_table(str(source), columns=[c for c in wanted if c in present])
    return specs, {name: table.column(name) for name in table.column_names}


def filter_shard(
    work: WorkArea, shard: int, rows: int, source: Source | None = None, params: DedupParams | None = None
) -> str:
    """``out/NNNNN.parquet``: ``id`` and the stage's three columns, one row per input row; returns its name.

    With ``source`` and ``params``, also the source's ``params.inherit`` columns (and their evidence columns),
    each kept row extended with the signals of its duplicates in the same shard, as the stage does
    (:mod:`datahygiene.stages.dedup.inherit`).
    """
    name = f"{shard:05d}"
    ids = work.read_table(f"shards/{name}/ids.parquet").column("id")
    table = shard_decisions(work, name, rows).add_column(0, "id", ids)
    if source is not None and params is not None and params.inherit:
        found = duplicates_of(work, name)
        rep_local = np.full(rows, -1, dtype=np.int64)
        rep_local[np.asarray(found.column("row").to_numpy(), dtype=np.int64)] = found.column("rep_row").to_numpy()
        specs, inherited = _inherited_values(source, params)
        amended = inherit(ids.to_pylist(), rep_local, inherited, specs)
        for column_name, column in inherited.items():
            changed = amended.get(column_name, {})
            if changed:
                items = column.to_pylist()
                for row, value in changed.items():
                    items[row] = value
                column = pa.chunked_array([pa.array(items, type=column.type)])
            table = table.append_column(column_name, column)
    out = f"out/{name}.parquet"
    work.write_table(out, table)
    return out


def _map(client: TaskClient | None, func: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``func(*args)`` for every call, as tasks on ``client`` when given, else here in order."""
    if client is None:
        return [func(*args) for args in calls]
    futures = [client.submit(func, *args, pure=False) for args in calls]
    return list(client.gather(futures))


def decide(
    client: TaskClient | None, work: WorkArea, layout: Layout, params: DedupParams, partitions: int
) -> dict[str, int]:
    """Steps 2-5 over sources whose features are spilled (step 1 done); returns counts for the summary."""
    edges = _map(client, buckets, [(work, p, layout) for p in range(partitions)])
    if partition_params(params).near_image.enabled:
        # Shards in `partitions` groups: each task reads one partition's inserts once for its group of shards.
        names = layout.shard_names
        groups = [list(g) for g in np.array_split(np.array(names), min(len(names), partitions)) if len(g)]
        calls = [(work, [str(n) for n in g], p, layout, params, partitions) for g in groups for p in range(partitions)]
        edges += _map(client, image_edges, calls)
    spilled = sum(_size(work, d) for d in ("shards", "keys", "inserts", "edges"))
    candidates = _map(client, clusters, [(work, layout, partitions)])[0]
    _map(client, scatter, [(work, n, s, partitions) for n, s in zip(layout.names, layout.starts, strict=True)])
    dups = _map(client, resolve, [(work, p, layout, params) for p in range(partitions)])
    return {
        "spilled_bytes": spilled,
        "candidate_edges": sum(edges),
        "candidate_rows": candidates,
        "duplicates": sum(dups),
    }


def _size(work: WorkArea, prefix: str) -> int:
    if work.remote:
        return sum(work.store.size(name) for name in work.names(prefix))
    return sum(work.path(name).stat().st_size for name in work.names(prefix))


def cleanup(work: WorkArea) -> None:
    """Remove every step's files (the outputs of :func:`run`, ``out/``, stay)."""
    for name in SPILL:
        work.remove(name)


def run(
    sources: Sequence[Source],
    work: Path | str | WorkArea,
    params: DedupParams | None = None,
    *,
    partitions: int = 4,
    client: TaskClient | None = None,
    keep_spill: bool = False,
) -> tuple[list[Path | str], dict[str, Any]]:
    """All steps over ``sources`` (Parquet files or tables with ``id`` and ``text`` / ``image``, in input order).

    Returns the per-shard output files (``work/out``: local paths, or URLs for a store) and a summary (rows,
    spilled bytes, edges, duplicates). The spill is removed afterwards unless ``keep_spill``.
    """
    params = params or DedupParams()
    area = work if isinstance(work, WorkArea) else WorkArea(work)
    counts = _map(client, signatures, [(s, i, area, params, partitions) for i, s in enumerate(sources)])
    layout = Layout.of([], counts)
    summary = decide(client, area, layout, params, partitions)
    calls = [(area, i, n, source, params) for i, (n, source) in enumerate(zip(counts, sources, strict=True))]
    names = _map(client, filter_shard, calls)
    if not keep_spill:
        cleanup(area)
    outputs: list[Path | str] = [f"{area.location}/{n}" if area.remote else area.path(n) for n in names]
    return outputs, {"rows": sum(counts), **summary}
