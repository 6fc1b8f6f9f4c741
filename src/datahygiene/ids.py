"""Seen-id index for the ``duplicate_id`` check: 8 bytes per id, snapshot per shard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

_FILE = "ids.npy"


def hash_ids(ids: pa.Array) -> npt.NDArray[np.uint64]:
    """64-bit hashes of string ids (collision odds ~n^2/2^65, negligible below 10^8 ids)."""
    values = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
    hashed: npt.NDArray[np.uint64] = pd.util.hash_array(values, categorize=False)
    return hashed


def _member(sorted_values: npt.NDArray[np.uint64], probes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    if len(sorted_values) == 0:
        return np.zeros(len(probes), dtype=bool)
    positions = np.searchsorted(sorted_values, probes).clip(max=len(sorted_values) - 1)
    found: npt.NDArray[np.bool_] = sorted_values[positions] == probes
    return found


class IdIndex:
    """Sorted hashes of committed ids plus those of the shard in progress."""

    def __init__(self) -> None:
        self._committed: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._pending: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)

    def check_and_add(self, ids: pa.Array) -> npt.NDArray[np.bool_]:
        """Mask of ids already seen (earlier rows, earlier batches or shards); adds the rest."""
        hashes = hash_ids(ids)
        seen_before = _member(self._committed, hashes) | _member(self._pending, hashes)
        _, first = np.unique(hashes, return_index=True)
        repeated = np.ones(len(hashes), dtype=bool)
        repeated[first] = False
        duplicate = seen_before | repeated
        self._pending = np.union1d(self._pending, hashes[~duplicate]).astype(np.uint64)
        return duplicate

    def commit(self, directory: Path) -> None:
        """Fold the shard's ids into the committed set and save them in ``directory``."""
        np.save(directory / _FILE, self._pending)
        self._committed = np.union1d(self._committed, self._pending).astype(np.uint64)
        self._pending = np.empty(0, dtype=np.uint64)

    def rollback(self) -> None:
        """Forget the ids of a shard that did not commit."""
        self._pending = np.empty(0, dtype=np.uint64)

    def load(self, directories: list[Path]) -> None:
        """Rebuild the committed set from the snapshots of committed shards."""
        parts = [np.load(d / _FILE) for d in directories if (d / _FILE).exists()]
        self._committed = np.unique(np.concatenate(parts)).astype(np.uint64) if parts else np.empty(0, dtype=np.uint64)
        self._pending = np.empty(0, dtype=np.uint64)
