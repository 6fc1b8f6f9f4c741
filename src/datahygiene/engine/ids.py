"""Seen-id index for the ``duplicate_id`` check: ~16 bytes per id in memory, 8 per id in the snapshot of each shard.

Ids are hashed to 64 bits straight from the Arrow string buffers (no Python
objects), and the hashes live in one open-addressing table probed and filled
with vectorised numpy rounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa

_FILE = "id-hashes.u64"  # little-endian uint64, first-seen order
_SPILL = "ids-pending.u64"
_DISK = np.dtype("<u8")
_LEGACY_FILE = "ids.npy"  # sorted hashes of another hash function (versions before 2026-11-23)

_U64 = np.uint64
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)
_SEED = _U64(0x9E3779B97F4A7C15)
_SEED_INVERSE = _U64(pow(0x9E3779B97F4A7C15, -1, 1 << 64))
_CHUNK = 1 << 16
_MAX_RESERVE = 1 << 22  # rows: a 64 MiB table
_NULL_HASH = _U64(0x5BD1E9955BD1E995)
_WORD = 8
_MAX_WORDS = 8  # ids up to 64 bytes are hashed word by word; longer ones (rare) via pandas
_PAD = 1024
_SHIFT30 = _U64(30)
_SHIFT27 = _U64(27)
_SHIFT31 = _U64(31)
# _TAIL[r]: the low r bytes of a little-endian word.
_TAIL = np.array([0] + [(1 << (8 * r)) - 1 for r in range(1, 8)] + [(1 << 64) - 1], dtype=np.uint64)


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: a bijection of uint64 that spreads every bit (in place)."""
    h ^= h >> _SHIFT30
    h *= _MIX1
    h ^= h >> _SHIFT27
    h *= _MIX2
    h ^= h >> _SHIFT31
    return h


def _string_buffers(ids: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Offsets (n + 1) and the data bytes of a string or large string array, without copying the strings."""
    offset_type = np.int32 if pa.types.is_string(ids.type) else np.int64
    buffers = ids.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[ids.offset : ids.offset + len(ids) + 1]
    data = np.empty(0, dtype=np.uint8) if buffers[2] is None else np.frombuffer(buffers[2], dtype=np.uint8)
    return offsets.astype(np.int64), data


def hash_ids(ids: pa.Array) -> npt.NDArray[np.uint64]:
    """Non-zero 64-bit hashes of string ids (collision odds ~n^2/2^65, negligible below 10^8 ids).

    Each id is read from the data buffer 8 bytes at a time (unaligned loads of
    a padded copy), the bytes past its end masked off, and folded into the
    state with a bijective mixer; the length goes into the last round.
    """
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = ids.cast(pa.large_string())
    offsets, data = _string_buffers(ids)
    starts, lengths = offsets[:-1], np.diff(offsets)
    n = len(lengths)
    padded = np.zeros(len(data) + _WORD, dtype=np.uint8)
    padded[: len(data)] = data
    words: npt.NDArray[np.uint64] = np.ndarray(
        shape=(len(padded) - _WORD + 1,), dtype="<u8", buffer=padded, strides=(1,)
    )
    hashes = np.full(n, _SEED, dtype=np.uint64)
    short = lengths <= _WORD * _MAX_WORDS
    rows = np.flatnonzero(short & (lengths > 0))
    for k in range(_MAX_WORDS):
        if len(rows) == 0:
            break
        select: slice | npt.NDArray[np.intp] = slice(None) if len(rows) == n else rows
        remaining = np.minimum(lengths[select] - _WORD * k, _WORD)
        word = words[starts[select] + _WORD * k]
        if int(remaining.min()) < _WORD:
            word &= _TAIL[remaining]
        state = hashes[select]
        state ^= word
        _mix(state)
        state *= _MIX1
        hashes[select] = state
        rows = rows[lengths[rows] > _WORD * (k + 1)]
    hashes = _mix(hashes ^ lengths.astype(np.uint64))
    if not short.all():
        import pandas as pd  # only for ids longer than 64 bytes

        long_rows = np.flatnonzero(~short)
        values = np.asarray(ids.take(pa.array(long_rows)).to_numpy(zero_copy_only=False), dtype=object)
        hashes[long_rows] = pd.util.hash_array(values, categorize=False)
    if ids.null_count:
        hashes[np.asarray(ids.is_null())] = _NULL_HASH
    hashes[hashes == 0] = 1  # 0 marks an empty slot of the table
    return hashes


def _homes(keys: npt.NDArray[np.uint64], capacity: int) -> npt.NDArray[np.intp]:
    """Home slots: the top bits of ``key * 2^64/phi`` (Fibonacci hashing), which depend on every key bit."""
    shift = _U64(64 - (capacity.bit_length() - 1))
    homes: npt.NDArray[np.intp] = ((keys * _SEED) >> shift).astype(np.intp)
    return homes


def _place(products: npt.NDArray[np.uint64], capacity: int) -> npt.NDArray[np.uint64] | None:
    """A table holding the keys of sorted ``key * _SEED`` products; None when a run would leave it."""
    table = np.zeros(capacity + _PAD, dtype=np.uint64)
    shift = _U64(64 - (capacity.bit_length() - 1))
    carry = -len(table)  # running max of home - rank so far
    for start in range(0, len(products), _CHUNK):
        chunk = products[start : start + _CHUNK]
        ranks = np.arange(start, start + len(chunk))
        offsets = (chunk >> shift).astype(np.intp) - ranks
        offsets[0] = max(int(offsets[0]), carry)
        np.maximum.accumulate(offsets, out=offsets)
        carry = int(offsets[-1])
        places = offsets + ranks
        if int(places[-1]) >= len(table):
            return None
        table[places] = chunk * _SEED_INVERSE
    return table


class _HashSet:
    """A set of non-zero uint64 in an open-addressing table, at most half full.

    Linear probing without wrap-around: a key's run starts at its home slot
    (:func:`_homes`) and may spill into a pad past the end (the table doubles
    if a run would leave it). Each vectorised round probes one slot for every
    key still looking; most settle in the first two rounds.
    """

    def __init__(self, capacity: int = 1 << 18) -> None:
        self.capacity = capacity
        self.table: npt.NDArray[np.uint64] = np.zeros(capacity + _PAD, dtype=np.uint64)
        self.count = 0

    def add_unique(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Add distinct ``keys``; the mask of those already present (not added again)."""
        while 2 * (self.count + len(keys)) > self.capacity:
            self._grow()
        table = self.table
        present = np.zeros(len(keys), dtype=bool)
        positions = np.arange(len(keys))
        slots = _homes(keys, self.capacity)
        while len(slots):
            current = table[slots]
            found = current == keys
            present[positions[found]] = True
            empty = np.flatnonzero(current == 0)
            table[slots[empty]] = keys[empty]  # keys racing for one slot: the last write wins it
            won = empty[table[slots[empty]] == keys[empty]]
            self.count += len(won)
            found[won] = True
            left = ~found  # the rest find another key in their slot: probe the next one
            keys, positions, slots = keys[left], positions[left], slots[left] + 1
            if len(slots) and int(slots.max()) >= len(table):
                self._grow()
                present[positions] = self.add_unique(keys)
                break
        return present

    def keys(self) -> npt.NDArray[np.uint64]:
        keys: npt.NDArray[np.uint64] = self.table[self.table != 0]
        return keys

    def reserve(self, more: int) -> None:
        """Make room for ``more`` keys now rather than growing step by step while they arrive."""
        capacity = self.capacity
        while 2 * (self.count + more) > capacity:
            capacity *= 2
        if capacity > self.capacity:
            self.rebuild(self.keys(), capacity)

    def _grow(self) -> None:
        self.rebuild(self.keys(), 2 * self.capacity)

    def rebuild(self, keys: npt.NDArray[np.uint64], capacity: int) -> None:
        """Refill the table with distinct ``keys`` at once (``keys`` is used up: sorted in place).

        Placed in order of their home slots, linear probing puts key ``i`` at
        ``max(home_i, place_{i-1} + 1)``: a running maximum, no probing rounds.
        The old table goes first and the work runs in chunks, so the peak is
        the new table plus ``keys``.
        """
        while 2 * len(keys) > capacity:
            capacity *= 2
        self.table = np.zeros(0, dtype=np.uint64)
        products = keys
        products *= _SEED  # the homes are the top bits of these: sorting them sorts by home
        products.sort()
        while (table := _place(products, capacity)) is None:
            capacity *= 2
        self.table, self.capacity, self.count = table, capacity, len(products)

    def remove_all(self, keys: npt.NDArray[np.uint64]) -> None:
        """Drop ``keys`` (rebuilds the table; only rollbacks do this)."""
        kept = self.keys()
        self.rebuild(kept[~np.isin(kept, keys)], self.capacity)


class IdIndex:
    """Hashes of committed ids plus those of the shard in progress.

    The shard's new hashes are needed again only at its commit (the snapshot)
    or rollback; with ``spill_dir`` they wait in a file there instead of in
    memory (8 bytes per row of the shard).
    """

    def __init__(self, spill_dir: Path | None = None) -> None:
        self._seen = _HashSet()
        self._spill = None if spill_dir is None else spill_dir / _SPILL
        self._spill_handle: BinaryIO | None = None
        self._pending: list[npt.NDArray[np.uint64]] = []

    def reserve(self, rows: int) -> None:
        """Size the table for ``rows`` more ids (at most ``_MAX_RESERVE``; beyond that it grows as they come)."""
        self._seen.reserve(min(rows, _MAX_RESERVE))

    def check_and_add(self, ids: pa.Array) -> npt.NDArray[np.bool_]:
        """Mask of ids already seen (earlier rows, earlier batches or shards); adds the rest."""
        hashes = hash_ids(ids)
        duplicate = np.ones(len(hashes), dtype=np.bool_)
        duplicate[np.unique(hashes, return_index=True)[1]] = False  # first occurrence of each hash
        first = np.flatnonzero(~duplicate)
        candidates = hashes[first]
        seen = self._seen.add_unique(candidates)
        duplicate[first[seen]] = True
        self._keep(candidates[~seen])
        return duplicate

    def _keep(self, added: npt.NDArray[np.uint64]) -> None:
        if self._spill is None:
            self._pending.append(added)
            return
        if self._spill_handle is None:
            self._spill.parent.mkdir(parents=True, exist_ok=True)
            self._spill_handle = self._spill.open("wb")
        added.astype(_DISK, copy=False).tofile(self._spill_handle)

    def _close_spill(self) -> bool:
        """Close the spill file; whether there is one."""
        if self._spill_handle is None:
            return False
        self._spill_handle.close()
        self._spill_handle = None
        return True

    def commit(self, directory: Path) -> None:
        """Keep the shard's ids for good and save them (in first-seen order) in ``directory``."""
        target = directory / _FILE
        if self._spill is not None and self._close_spill():
            self._spill.replace(target)
        else:
            with target.open("wb") as handle:
                for part in self._pending:
                    part.astype(_DISK, copy=False).tofile(handle)
        self._pending = []

    def rollback(self) -> None:
        """Forget the ids of a shard that did not commit."""
        if self._spill is not None and self._close_spill():
            added = np.fromfile(self._spill, dtype=_DISK).astype(np.uint64)
            self._spill.unlink()
        else:
            added = np.concatenate(self._pending) if self._pending else np.empty(0, dtype=np.uint64)
        if len(added):
            self._seen.remove_all(added)
        self._pending = []

    def load(self, directories: list[Path]) -> None:
        """Rebuild the committed set from the snapshots of committed shards."""
        snapshots = []
        for directory in directories:
            if (directory / _LEGACY_FILE).exists() and not (directory / _FILE).exists():
                raise ValueError(
                    f"{directory} holds an id snapshot of an older datahygiene version; resume it with that version"
                )
            if (directory / _FILE).exists():
                snapshots.append(np.fromfile(directory / _FILE, dtype=_DISK).astype(np.uint64))
        self._seen = _HashSet()
        if snapshots:
            self._seen.rebuild(np.concatenate(snapshots), self._seen.capacity)
        self._close_spill()
        self._pending = []
