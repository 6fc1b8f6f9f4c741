"""The steps of the partitioned dedup phase (``DedupPhase``, :mod:`.phase`): decisions beyond one process's memory.

spill (per shard) -> buckets (+ image edges) -> clusters -> scatter -> resolve -> decisions per shard.

Every step is a plain function over files in a :class:`~datahygiene.io.workarea.WorkArea` (a local folder
every worker sees, or a prefix in an object store), so each call can be a task on any worker: the flow runs
them as Prefect tasks, ``datahygiene run-partitioned`` in its process or a process pool
(``datahygiene.engine.phase_local``). The decisions are the ``dedup`` stage's exactly (same ``dup_of``,
``dup_kind``, ``dup_similarity`` for every row; text and image kinds, ``text_on_image_rows`` included; semantic
is not partitioned), also against the representatives of earlier runs (``--dedup-index``,
:mod:`.partition_index`). Sources and global row numbers: :mod:`.layout`.

1. spill (one task per shard, ``DedupPhase.spiller``, :mod:`.spill`): the stage's features per row of the
   shard's scored rows, spilled; every exact key a row carries (text, image bytes, pixels) and its band keys
   are written as ``(key, local row)`` (12 B) into one of K partition files by key hash, and its pHash
   substrings into K insert files (:mod:`.partition_images`). The index's segments are sources too: their
   representatives' keys are partitioned the same way, numbered before every row of the run.
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
   shard, aligned with its input; the commit task also gives kept rows their same-shard duplicates' signals
   (``DedupPhase.amendments``, :mod:`.inherit`), as the stage does.

Memory: a task holds one shard (features, scatter), one partition's keys (buckets), one partition's inserts
plus one shard's probes in chunks (image edges), the candidate edges (clusters: 16 B per edge, only rows that
share a key with another row) or one partition's candidate rows (resolve).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from datahygiene.io.workarea import WorkArea
from datahygiene.stages.dedup import partition_images as images
from datahygiene.stages.dedup.dedup_stage import OUTPUT_SCHEMA
from datahygiene.stages.dedup.keep import visit_rank
from datahygiene.stages.dedup.layout import Layout, key_file, partition_of, partition_params
from datahygiene.stages.dedup.lookahead import take_features
from datahygiene.stages.dedup.matcher import Match
from datahygiene.stages.dedup.matcher import resolve as match_rows
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.partition_index import committed_state
from datahygiene.stages.dedup.spill import duplicates_of, load_candidates, scatter
from datahygiene.stages.dedup.state import DedupState

I64 = npt.NDArray[np.int64]


class TaskClient(Protocol):
    """Where the steps run (``datahygiene.engine.phase_local.LocalTasks``, the flow's Prefect tasks, Dask)."""

    def submit(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    def gather(self, futures: Any) -> Any: ...


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
