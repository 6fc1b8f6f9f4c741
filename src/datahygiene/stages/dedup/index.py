"""Append-only, sub-linear lookup structures built on sorted numpy arrays (no per-key Python objects)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


class GrowArray:
    """A numpy array that grows by appending rows (amortised doubling), for index payloads."""

    def __init__(self, dtype: Any, width: int = 0) -> None:
        self.width = width
        shape = (16, width) if width else (16,)
        self._data: npt.NDArray[Any] = np.empty(shape, dtype=dtype)
        self.size = 0

    def append(self, rows: npt.NDArray[Any]) -> None:
        """Append ``rows`` (1-D, or 2-D with ``width`` columns)."""
        need = self.size + len(rows)
        if need > len(self._data):
            capacity = max(need, 2 * len(self._data))
            grown = np.empty((capacity, *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = rows
        self.size = need

    def view(self) -> npt.NDArray[Any]:
        """The filled part (a view; do not keep it across appends)."""
        return self._data[: self.size]

    @property
    def nbytes(self) -> int:
        return int(self.view().nbytes)


class KeyIndex:
    """A multimap ``uint64 key -> int64 representative`` as a log-structured merge of sorted runs.

    Each ``add`` becomes a sorted run; runs of similar size are merged, so there are O(log n) runs and a
    lookup is one ``searchsorted`` per run. All inserted pairs are also kept in insertion order so the
    index can be written out incrementally.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[U64, I64]] = []
        self.keys = GrowArray(np.uint64)
        self.reps = GrowArray(np.int64)

    def __len__(self) -> int:
        return self.keys.size

    @property
    def nbytes(self) -> int:
        """Bytes held (sorted runs plus the insertion-order log)."""
        return sum(k.nbytes + r.nbytes for k, r in self._runs) + self.keys.nbytes + self.reps.nbytes

    def add(self, keys: U64, reps: I64) -> None:
        """Insert ``keys[i] -> reps[i]`` for all i."""
        if len(keys) == 0:
            return
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        reps = np.ascontiguousarray(reps, dtype=np.int64)
        self.keys.append(keys)
        self.reps.append(reps)
        ascending = len(reps) < 2 or bool((reps[1:] >= reps[:-1]).all())
        order = _key_rep_order(keys, reps, ascending)
        self._runs.append((keys[order], reps[order]))
        while len(self._runs) > 1 and len(self._runs[-1][0]) * 2 >= len(self._runs[-2][0]):
            (k2, r2), (k1, r1) = self._runs.pop(), self._runs.pop()
            k, r = np.concatenate([k1, k2]), np.concatenate([r1, r2])
            # both runs are sorted by (key, rep): when every rep of the older run is <= every rep of the newer
            # one (the matcher appends growing representatives), equal keys are already in rep order
            order = _key_rep_order(k, r, int(r1.max()) <= int(r2.min()))
            self._runs.append((k[order], r[order]))

    def lookup(self, queries: U64) -> tuple[I64, I64]:
        """All ``(query position, representative)`` pairs whose key equals the query, sorted, unique."""
        found_q: list[I64] = []
        found_r: list[I64] = []
        if not self._runs or len(queries) == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.copy()
        # Binary searches for sorted queries walk the keys in order (cache-friendly; several times faster than
        # searching in query order on runs of millions of keys); ``order`` maps them back to query positions.
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        order = np.argsort(queries)
        sorted_queries = queries[order]
        for keys, reps in self._runs:
            lo = np.searchsorted(keys, sorted_queries, side="left")
            hi = np.searchsorted(keys, sorted_queries, side="right")
            counts = hi - lo
            hit = np.flatnonzero(counts)
            if len(hit) == 0:
                continue
            c = counts[hit]
            qpos = np.repeat(order[hit], c)
            starts = np.repeat(lo[hit] - np.cumsum(c) + c, c)
            found_q.append(qpos.astype(np.int64))
            found_r.append(reps[starts + np.arange(len(qpos))])
        if not found_q:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.copy()
        return unique_pairs(np.concatenate(found_q), np.concatenate(found_r))


def _key_rep_order(keys: U64, reps: I64, reps_in_order: bool) -> I64:
    """The permutation that sorts by ``(key, rep)``; ``reps_in_order``: equal keys already come in rep order.

    Then a stable sort by key alone gives it (timsort merges the sorted runs it finds: near linear), instead
    of a two-key ``lexsort``.
    """
    if reps_in_order:
        return np.argsort(keys, kind="stable")
    return np.lexsort((reps, keys))


def unique_pairs(first: I64, second: I64) -> tuple[I64, I64]:
    """The distinct ``(first, second)`` pairs in lexicographic order (``np.unique(axis=0)``), by one int64 sort."""
    if len(first) == 0:
        return first.astype(np.int64), second.astype(np.int64)
    span = int(second.max()) + 1
    if int(first.min()) >= 0 and int(second.min()) >= 0 and int(first.max()) < (2**63 - 1) // span:
        codes = np.sort(first.astype(np.int64) * span + second)
        codes = codes[np.r_[True, codes[1:] != codes[:-1]]]
        return codes // span, codes % span
    pairs = np.unique(np.stack([first, second], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def group_pairs(rows: I64, values: npt.NDArray[Any]) -> dict[int, list[Any]]:
    """``{row: [values...]}`` from parallel arrays (a Python dict only over rows that have any pair)."""
    grouped: dict[int, list[Any]] = {}
    for row, value in zip(rows.tolist(), values.tolist(), strict=True):
        grouped.setdefault(row, []).append(value)
    return grouped
