"""Semantic near-duplicates: cosine similarity of L2-normalised embeddings with faiss range search.

faiss is imported where an index is built: a run with no embeddings never loads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def clean_embeddings(raw: Any, rows: int) -> tuple[F32, npt.NDArray[np.bool_]]:
    """Re-normalised float32 embeddings and a mask of usable rows (all-zero or NaN rows are not usable)."""
    emb = np.asarray(raw, dtype=np.float32).reshape(rows, -1).copy()
    finite = np.isfinite(emb).all(axis=1)
    emb[~finite] = 0.0
    norms = np.linalg.norm(emb, axis=1)
    valid = finite & (norms > 1e-6)
    emb[valid] /= norms[valid, None]
    emb[~valid] = 0.0
    return emb, valid


class EmbeddingIndex:
    """Exact inner-product index of the representatives' embeddings (faiss ``IndexFlatIP``)."""

    def __init__(self, dim: int) -> None:
        import faiss

        self.dim = dim
        self.index = faiss.IndexFlatIP(dim)
        self.reps: list[I64] = []
        self._reps_cache: I64 = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, emb: F32, reps: I64) -> None:
        """Add representatives' embeddings."""
        if len(emb):
            self.index.add(np.ascontiguousarray(emb, dtype=np.float32))
            self.reps.append(reps.astype(np.int64))
            self._reps_cache = np.concatenate(self.reps)

    def range_search(self, queries: F32, threshold: float) -> tuple[I64, I64, F32]:
        """``(query row, representative, cosine)`` for every representative with cosine >= threshold."""
        return range_pairs(self.index, queries, threshold, self._reps_cache)

    def vectors(self) -> F32:
        """All stored embeddings in insertion order."""
        import faiss

        if len(self) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        out: F32 = faiss.rev_swig_ptr(self.index.get_xb(), len(self) * self.dim).reshape(len(self), self.dim).copy()
        return out


def range_pairs(index: Any, queries: F32, threshold: float, labels: I64) -> tuple[I64, I64, F32]:
    """Run a faiss range search and map result ids through ``labels``."""
    if index.ntotal == 0 or len(queries) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    # faiss returns strictly greater than the radius; nudge it so ``>= threshold`` holds.
    lims, dist, ids = index.range_search(np.ascontiguousarray(queries, dtype=np.float32), float(threshold) - 1e-6)
    rows = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(lims).astype(np.int64))
    return rows, labels[ids.astype(np.int64)], dist.astype(np.float32)


def in_batch_pairs(emb: F32, valid: npt.NDArray[np.bool_], threshold: float) -> tuple[I64, I64, F32]:
    """Pairs ``(i, j, cosine)`` with ``j < i`` inside one batch whose cosine >= threshold."""
    rows = np.flatnonzero(valid)
    if len(rows) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    import faiss

    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(np.ascontiguousarray(emb[rows]))
    q, j, sim = range_pairs(index, emb[rows], threshold, rows)
    i = rows[q]
    earlier = j < i
    return i[earlier], j[earlier], sim[earlier]
