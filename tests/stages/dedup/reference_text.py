"""The text features as computed before issue 15 (Arrow kernels per word list), frozen as the reference.

The string primitives it builds on (normal forms, string hashes, shingles) are the package's own; their
outputs are pinned by ``test_text.py::test_stored_hashes_never_change``.

The vectorised byte-level code in ``datahygiene.stages.dedup.textbytes`` must give exactly these exact
normal forms, token hashes, shingles and signatures: the cross-run dedup index stores them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from datahygiene.stages.dedup.normalize import (
    _string_parts,
    base_form,
    digest64,
    hash_strings,
    near_from_base,
    shingles,
)

__all__ = ["analyse", "digest64", "shingles"]

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def _list_parts(lists: pa.Array) -> tuple[pa.Array, I64]:
    counts = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return pc.list_flatten(lists), counts


def analyse(texts: pa.Array) -> tuple[pa.Array, U64, I64]:
    """Exact normal form per row, plus near-form word-token hashes and row offsets (the pre-issue-15 code)."""
    texts = texts.cast(pa.string())
    words = pc.ascii_split_whitespace(pc.utf8_trim_whitespace(texts))
    flat, row_counts = _list_parts(words)
    encoded = pc.dictionary_encode(flat)
    index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    vocab = base_form(encoded.dictionary)
    row_offsets = np.zeros(len(row_counts) + 1, dtype=np.int64)
    np.cumsum(row_counts, out=row_offsets[1:])
    normal_lists = pa.ListArray.from_arrays(
        pa.array(row_offsets.astype(np.int32)), vocab.take(pa.array(index)), mask=words.is_null()
    )
    exact = pc.binary_join(normal_lists, " ")
    pieces, piece_counts = _list_parts(pc.ascii_split_whitespace(pc.utf8_trim_whitespace(near_from_base(vocab))))
    _piece_data, piece_offsets = _string_parts(pieces)
    keep = np.diff(piece_offsets) > 0
    starts = np.zeros(len(piece_counts) + 1, dtype=np.int64)
    np.cumsum(piece_counts, out=starts[1:])
    per_entry = np.add.reduceat(keep.astype(np.int64), starts[:-1]) if len(keep) else np.zeros(0, np.int64)
    piece_hashes = hash_strings(pieces.filter(pa.array(keep))) if keep.any() else np.empty(0, np.uint64)
    entry_start = np.zeros(len(per_entry) + 1, dtype=np.int64)
    np.cumsum(per_entry, out=entry_start[1:])
    counts = per_entry[index]
    total = int(counts.sum())
    first = np.cumsum(counts) - counts
    positions = np.repeat(entry_start[:-1][index], counts) + (np.arange(total) - np.repeat(first, counts))
    hashes = piece_hashes[positions] if total else np.empty(0, np.uint64)
    token_offsets = np.zeros(len(row_counts) + 1, dtype=np.int64)
    word_cum = np.concatenate([[0], np.cumsum(counts)])
    token_offsets[:] = word_cum[row_offsets]
    return exact, hashes, token_offsets
