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

from pathlib import Path

import numpy as np
import numpy.typing as npt

from datahygiene.stages.dedup import phash
from datahygiene.stages.dedup.normalize import mix64
from datahygiene.stages.dedup.params import DedupParams

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
#: Salts that keep the kinds' keys apart in the shared key space of the partitions.
SALT_BYTES = np.uint64(0xB17E5_0000_0001)
SALT_PIXELS = np.uint64(0x919E15_0000_0002)
_SALT_MIH = np.uint64(0x3141_5926_5358_9793)
_CHUNK = 4096
RECORD = np.dtype([("key", "<u8"), ("row", "<u4")])


def salted(keys: U64, salt: np.uint64) -> U64:
    """Exact image keys moved into their own region of the key space."""
    return mix64(keys ^ salt)


def _mih(keys: U64) -> U64:
    return mix64(keys ^ _SALT_MIH)


def insert_records(ph: U64, rows: npt.NDArray[np.uint32], params: DedupParams) -> tuple[U64, npt.NDArray[np.uint32]]:
    """``(key, row)`` of the substrings a picture is indexed under (the rows given, one pHash each)."""
    keys = phash.insert_keys(ph, params.near_image.radius)
    return _mih(keys.reshape(-1)), np.repeat(rows, keys.shape[1])


def _partition_of(keys: U64, partitions: int) -> I64:
    return (mix64(keys) % np.uint64(partitions)).astype(np.int64)


def insert_file(work: Path, shard: int, part: int) -> Path:
    return work / "inserts" / f"{shard:05d}-{part:04d}.npy"


def probe_edges(
    work: Path,
    shards: list[int],
    part: int,
    offsets: list[int],
    params: DedupParams,
    partitions: int,
    shard_dirs: list[Path],
) -> int:
    """Candidate edges between these shards' pictures (as queries) and partition ``part``'s inserts.

    The partition's inserts are read once for the group of shards. Writes ``edges/img-SSSSS-PPPP.npy``
    (SSSSS: the group's first shard; pairs of global rows, later row first); returns the edge count.
    """
    keys: list[U64] = []
    rows: list[I64] = []
    for other in range(len(offsets) - 1):
        records = np.load(insert_file(work, other, part))
        keys.append(records["key"])
        rows.append(records["row"].astype(np.int64) + offsets[other])
    insert_keys = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    insert_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    order = np.argsort(insert_keys, kind="stable")
    insert_keys, insert_rows = insert_keys[order], insert_rows[order]
    edges: list[npt.NDArray[np.int64]] = []
    for shard, shard_dir in zip(shards, shard_dirs, strict=True):
        if len(insert_keys) == 0:
            break
        image_rows = np.flatnonzero(np.load(shard_dir / "flags.npy") & 4)
        if len(image_rows) == 0:
            continue
        ph = np.load(shard_dir / "ph.npy", mmap_mode="r")
        flip = np.load(shard_dir / "ph_flip.npy", mmap_mode="r")
        for start in range(0, len(image_rows), _CHUNK):
            local = image_rows[start : start + _CHUNK]
            queries = np.concatenate([ph[local], flip[local]]) if params.near_image.mirror else ph[local]
            owners = np.concatenate([local, local]) if params.near_image.mirror else local
            owner = owners.astype(np.int64) + offsets[shard]
            edges.append(_hits(queries, owner, insert_keys, insert_rows, params, part, partitions))
    found = np.unique(np.concatenate(edges), axis=0) if edges else np.zeros((0, 2), np.int64)
    (work / "edges").mkdir(parents=True, exist_ok=True)
    np.save(work / "edges" / f"img-{shards[0]:05d}-{part:04d}.npy", found)
    return len(found)


def _hits(
    queries: U64, owner: I64, insert_keys: U64, insert_rows: I64, params: DedupParams, part: int, partitions: int
) -> npt.NDArray[np.int64]:
    """Pairs (later row, earlier row) where a probe of a query equals an insert of partition ``part``."""
    probes = phash.probe_keys(np.ascontiguousarray(queries), params.near_image.radius)
    flat = _mih(probes.reshape(-1))
    owners = np.repeat(owner, probes.shape[1])
    mine = _partition_of(flat, partitions) == part
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
