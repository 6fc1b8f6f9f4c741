"""Image rows in the partitioned dedup path: exact keys, and near-image candidates from pHash substrings.

Exact image keys (file bytes, decoded pixels) behave like text keys: rows that
share one share a bucket. Near images need more: the stage finds a pHash
within ``radius`` bits by probing every substring value within ``radius // m``
bits of the query's (``phash.probe_keys``) against the representatives'
inserted substrings (``phash.insert_keys``). Two rows the stage could compare
therefore have a probe of the later one equal to an insert of the earlier
one. Rather than spill ~1,400 probes per picture, only the ``m`` inserts are
spilled, partitioned by key; the probes are recomputed per (shard,
partition) task from the shard's spilled pHashes and looked up in that
partition's sorted inserts. Every matching pair becomes a candidate edge, so
every pair the stage could compare ends up in one connected component.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from datahygiene.stages.dedup import phash
from datahygiene.stages.dedup.layout import IMAGE_OK, Layout, insert_file, partition_of
from datahygiene.stages.dedup.normalize import mix64
from datahygiene.stages.dedup.params import DedupParams

if TYPE_CHECKING:
    from datahygiene.io.workarea import WorkArea

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
#: Salts that keep the kinds' keys apart in the shared key space of the partitions.
SALT_BYTES = np.uint64(0xB17E5_0000_0001)
SALT_PIXELS = np.uint64(0x919E15_0000_0002)
_SALT_MIH = np.uint64(0x3141_5926_5358_9793)
_CHUNK = 4096


def salted(keys: U64, salt: np.uint64) -> U64:
    """Exact image keys moved into their own region of the key space."""
    return mix64(keys ^ salt)


def _mih(keys: U64) -> U64:
    return mix64(keys ^ _SALT_MIH)


def insert_records(ph: U64, rows: npt.NDArray[np.uint32], params: DedupParams) -> tuple[U64, npt.NDArray[np.uint32]]:
    """``(key, row)`` of the substrings a picture is indexed under (the rows given, one pHash each)."""
    keys = phash.insert_keys(ph, params.near_image.radius)
    return _mih(keys.reshape(-1)), np.repeat(rows, keys.shape[1])


def probe_edges(
    work: WorkArea, shards: list[str], part: int, layout: Layout, params: DedupParams, partitions: int
) -> int:
    """Candidate edges between these sources' pictures (as queries) and partition ``part``'s inserts.

    The partition's inserts (of every source: index segments and shards) are read once for the group of
    sources. Writes ``edges/img-NAME-PPPP.npy`` (NAME: the group's first source; pairs of global rows, later
    row first); returns the edge count.
    """
    insert_keys, insert_rows = layout.gather(work, insert_file, part)
    order = np.argsort(insert_keys, kind="stable")
    insert_keys, insert_rows = insert_keys[order], insert_rows[order]
    starts = dict(zip(layout.names, layout.starts, strict=True))
    edges: list[npt.NDArray[np.int64]] = []
    for name in shards:
        if len(insert_keys) == 0:
            break
        folder = f"shards/{name}"
        image_rows = np.flatnonzero(work.load_array(f"{folder}/flags.npy") & IMAGE_OK)
        if len(image_rows) == 0:
            continue
        ph, flip = work.load_array(f"{folder}/ph.npy"), work.load_array(f"{folder}/ph_flip.npy")
        for begin in range(0, len(image_rows), _CHUNK):
            local = image_rows[begin : begin + _CHUNK]
            queries = np.concatenate([ph[local], flip[local]]) if params.near_image.mirror else ph[local]
            owners = np.concatenate([local, local]) if params.near_image.mirror else local
            owner = owners.astype(np.int64) + starts[name]
            edges.append(_hits(queries, owner, insert_keys, insert_rows, params, part, partitions))
    found = np.unique(np.concatenate(edges), axis=0) if edges else np.zeros((0, 2), np.int64)
    work.save_array(f"edges/img-{shards[0]}-{part:04d}.npy", found)
    return len(found)


def _hits(
    queries: U64, owner: I64, insert_keys: U64, insert_rows: I64, params: DedupParams, part: int, partitions: int
) -> npt.NDArray[np.int64]:
    """Pairs (later row, earlier row) where a probe of a query equals an insert of partition ``part``."""
    probes = phash.probe_keys(np.ascontiguousarray(queries), params.near_image.radius)
    flat = _mih(probes.reshape(-1))
    owners = np.repeat(owner, probes.shape[1])
    mine = partition_of(flat, partitions) == part
    flat, owners = flat[mine], owners[mine]
    lo = np.searchsorted(insert_keys, flat, side="left")
    hi = np.searchsorted(insert_keys, flat, side="right")
    counts = hi - lo
    hit = np.flatnonzero(counts)
    if len(hit) == 0:
        return np.zeros((0, 2), np.int64)
    c = counts[hit]
    query_rows = np.repeat(owners[hit], c)
    positions = np.repeat(lo[hit] - np.cumsum(c) + c, c) + np.arange(int(c.sum()))
    matched = insert_rows[positions]
    pairs: npt.NDArray[np.int64] = np.stack([np.maximum(query_rows, matched), np.minimum(query_rows, matched)], axis=1)
    kept: npt.NDArray[np.int64] = pairs[pairs[:, 0] != pairs[:, 1]]
    return kept
