"""In-batch near-duplicate text candidates: every earlier row sharing an LSH band, verified in bulk.

The matcher walks the rows in input order and may only match a row to an earlier *kept* row, so which
pairs count is decided in that walk. What does not depend on the walk is which earlier rows share a
band key with a row and how similar their signatures are: that is computed here for the whole batch
at once, so the walk only looks up the few pairs above the threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from datahygiene.stages.dedup import phash
from datahygiene.stages.dedup.index import unique_pairs

#: Band-sharing pairs above which the batch is verified row by row instead (huge clusters of copies).
MAX_PAIRS = 4_000_000
#: Pairs verified at once: 4k pairs x 128 slots x 2 signatures is 4 MB of temporaries, which stay in cache and
#: are reused by the allocator (64k-pair chunks cost twice the CPU, mostly page faults on fresh 32 MB buffers).
VERIFY_CHUNK = 4096

Pairs = dict[int, list[tuple[int, float]]]


def similar_earlier_rows(
    bands: npt.NDArray[np.uint64],
    sigs: npt.NDArray[np.uint32],
    ok: npt.NDArray[np.bool_],
    threshold: float,
) -> Pairs | None:
    """Per row ``i``: ``[(j, similarity), ...]`` for earlier usable rows ``j`` sharing a band key with it and
    at least ``threshold`` similar, ordered by ``j``. ``None`` when there are more than MAX_PAIRS pairs.

    Similarity is the fraction of equal signature slots, computed as ``minhash.estimated_jaccard`` does.
    """
    usable = np.flatnonzero(ok)
    if len(usable) < 2:
        return {}
    n_bands = bands.shape[1]
    keys = bands[usable].reshape(-1)
    rows = np.repeat(usable, n_bands)
    order = np.lexsort((rows, keys))  # by key, then row
    keys, rows = keys[order], rows[order]
    new_group = np.r_[True, keys[1:] != keys[:-1]]
    group_start = np.flatnonzero(new_group)
    sizes = np.diff(np.r_[group_start, len(keys)])
    if int((sizes * (sizes - 1) // 2).sum()) > MAX_PAIRS:
        return None
    # each element pairs with the elements before it in its group
    start_of = np.repeat(group_start, sizes)
    rank = np.arange(len(keys)) - start_of
    later = np.repeat(np.arange(len(keys)), rank)
    earlier = np.repeat(start_of, rank) + (np.arange(int(rank.sum())) - np.repeat(np.cumsum(rank) - rank, rank))
    i_rows, j_rows = rows[later], rows[earlier]
    keep = j_rows < i_rows
    if not keep.any():
        return {}
    pair_codes = np.sort(i_rows[keep].astype(np.int64) * len(ok) + j_rows[keep])
    pair_codes = pair_codes[np.r_[True, pair_codes[1:] != pair_codes[:-1]]]  # a pair may share several bands
    i_rows, j_rows = pair_codes // len(ok), pair_codes % len(ok)
    sims = signature_agreement(sigs, i_rows, sigs, j_rows)
    hit = sims >= threshold
    out: Pairs = {}
    for i, j, sim in zip(i_rows[hit].tolist(), j_rows[hit].tolist(), sims[hit].tolist(), strict=True):
        out.setdefault(i, []).append((j, sim))  # pair codes are sorted: j ascending within each i
    return out


def signature_agreement(
    left: npt.NDArray[Any], left_rows: npt.NDArray[np.int64], right: npt.NDArray[Any], right_rows: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Share of equal MinHash slots of each pair ``(left[left_rows[k]], right[right_rows[k]])``, in chunks of
    :data:`VERIFY_CHUNK` pairs (cache-sized temporaries, reused by the allocator)."""
    equal = np.empty(len(left_rows), dtype=np.int64)
    for lo in range(0, len(left_rows), VERIFY_CHUNK):
        sl = slice(lo, lo + VERIFY_CHUNK)
        equal[sl] = np.count_nonzero(left[left_rows[sl]] == right[right_rows[sl]], axis=1)
    agreement: npt.NDArray[np.float64] = equal / left.shape[1]
    return agreement


def near_image_rows(
    ph: npt.NDArray[np.uint64], ph_flip: npt.NDArray[np.uint64], ok: npt.NDArray[np.bool_], radius: int, mirror: bool
) -> dict[int, list[tuple[int, int]]]:
    """Per row ``i``: ``[(j, distance), ...]`` for earlier usable rows ``j`` within ``radius`` bits, ordered by ``j``.

    A pair counts when one of ``i``'s multi-index probe keys (of its hash, and of its mirror's) equals one of
    ``j``'s insert keys, as the matcher's per-row lookup required; the distance is the smaller Hamming
    distance of ``j``'s hash to ``i``'s hash or mirror hash.
    """
    rows = np.flatnonzero(ok)
    if len(rows) < 2:
        return {}
    hashes = [ph[rows], ph_flip[rows]] if mirror else [ph[rows]]
    probes = np.concatenate([phash.probe_keys(h, radius) for h in hashes])
    probe_rows = np.repeat(np.tile(rows, len(hashes)), probes.shape[1])
    inserts = phash.insert_keys(ph[rows], radius)
    order = np.argsort(inserts.reshape(-1), kind="stable")
    keys, key_rows = inserts.reshape(-1)[order], np.repeat(rows, inserts.shape[1])[order]
    flat = probes.reshape(-1)
    lo = np.searchsorted(keys, flat, side="left")
    counts = np.searchsorted(keys, flat, side="right") - lo
    hit = np.flatnonzero(counts)
    c = counts[hit]
    i_rows = np.repeat(probe_rows[hit], c)
    j_rows = key_rows[np.repeat(lo[hit] - np.cumsum(c) + c, c) + np.arange(int(c.sum()))]
    earlier = j_rows < i_rows
    i_rows, j_rows = unique_pairs(i_rows[earlier], j_rows[earlier])
    distance = np.bitwise_count(ph[j_rows] ^ ph[i_rows]).astype(np.int64)
    if mirror:
        distance = np.minimum(distance, np.bitwise_count(ph[j_rows] ^ ph_flip[i_rows]).astype(np.int64))
    near = distance <= radius
    out: dict[int, list[tuple[int, int]]] = {}
    for i, j, d in zip(i_rows[near].tolist(), j_rows[near].tolist(), distance[near].tolist(), strict=True):
        out.setdefault(i, []).append((j, d))
    return out
