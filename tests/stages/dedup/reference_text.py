"""The text features as computed before issue 15 (Arrow kernels per word list), frozen as the reference.

The vectorised byte-level code in ``datahygiene.stages.dedup.textbytes`` must give exactly these exact
normal forms, token hashes, shingles and signatures: the cross-run dedup index stores them.
"""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_BYTE_BASE = np.uint64(0x100000001B3)
_PUNCT = np.arange(256, dtype=np.uint8)
_PUNCT[[c for c in range(128) if not chr(c).isalnum()]] = ord(" ")


def base_form(texts: pa.Array) -> pa.Array:
    """NFKC (non-ASCII rows) and lower case."""
    texts = texts.cast(pa.string())
    non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(texts), True))
    rows = np.flatnonzero(non_ascii.to_numpy(zero_copy_only=False))
    if len(rows):
        fixed = pa.array([unicodedata.normalize("NFKC", t) for t in texts.take(pa.array(rows)).to_pylist()])
        texts = pc.replace_with_mask(texts, non_ascii, fixed)
    return pc.utf8_lower(texts)


def near_from_base(base: pa.Array) -> pa.Array:
    """ASCII punctuation and symbols turned into spaces."""
    base = base.cast(pa.large_string())
    validity, offsets, data = base.buffers()
    if data is None:
        return base
    mapped = _PUNCT[np.frombuffer(data, dtype=np.uint8)]
    return pa.Array.from_buffers(
        pa.large_string(), len(base), [validity, offsets, pa.py_buffer(mapped)], base.null_count, base.offset
    )


def mix64(values: U64) -> U64:
    """SplitMix64 finaliser."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64, copy=True)
        z ^= z >> np.uint64(30)
        z *= _C1
        z ^= z >> np.uint64(27)
        z *= _C2
        z ^= z >> np.uint64(31)
    return z


def hash_strings(strings: pa.Array) -> U64:
    """Polynomial hash of every string."""
    data, offsets = _string_parts(strings)
    lengths = np.diff(offsets)
    out = np.zeros(len(lengths), dtype=np.uint64)
    if len(data) == 0:
        return mix64(out ^ lengths.astype(np.uint64))
    max_len = int(lengths.max())
    powers = np.ones(max_len, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(1, max_len):
            powers[k] = powers[k - 1] * _BYTE_BASE
        position = np.arange(len(data), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        contrib = (data.astype(np.uint64) + np.uint64(1)) * powers[position]
    nonempty = lengths > 0
    out[nonempty] = np.add.reduceat(contrib, offsets[:-1][nonempty])
    return mix64(out ^ (lengths.astype(np.uint64) * _GOLD))


def _string_parts(strings: pa.Array) -> tuple[npt.NDArray[np.uint8], I64]:
    strings = strings.cast(pa.large_string())
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    return data, (offsets - offsets[0]).astype(np.int64)


def _list_parts(lists: pa.Array) -> tuple[pa.Array, I64]:
    counts = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return pc.list_flatten(lists), counts


def digest64(texts: pa.Array) -> tuple[U64, npt.NDArray[np.bool_]]:
    """BLAKE2b-64 of each string's UTF-8 bytes, and a mask of rows that are non-null and non-empty."""
    keys = np.zeros(len(texts), dtype=np.uint64)
    valid = np.zeros(len(texts), dtype=np.bool_)
    for i, value in enumerate(texts.to_pylist()):
        if value:
            keys[i] = int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little")
            valid[i] = True
    return keys, valid


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


def shingles(token_hashes: U64, row_offsets: I64, ngram: int) -> tuple[U64, I64]:
    """Hashes of every run of ``ngram`` consecutive tokens per row (whole row when shorter), plus offsets."""
    counts = np.diff(row_offsets)
    per_row = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    out_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(per_row, out=out_offsets[1:])
    total = int(out_offsets[-1])
    row_of = np.repeat(np.arange(len(counts)), per_row)
    starts = row_offsets[:-1][row_of] + (np.arange(total) - out_offsets[:-1][row_of])
    width = np.minimum(counts[row_of], ngram)
    acc = np.zeros(total, dtype=np.uint64)
    long_rows = (width == ngram) if total else np.zeros(0, dtype=np.bool_)
    span = len(token_hashes) - ngram + 1
    with np.errstate(over="ignore"):
        if span > 0 and long_rows.any():
            # rolling polynomial over the whole token buffer with slices (no gathers), then pick row starts
            rolling = token_hashes[:span].copy()
            for j in range(1, ngram):
                rolling = rolling * _GOLD + token_hashes[j : j + span]
            acc[long_rows] = rolling[starts[long_rows]]
        short = np.flatnonzero(~long_rows)
        if len(short):  # rows shorter than ngram: one shingle of the whole row, zero-padded
            padded = np.append(token_hashes, np.uint64(0))
            part = np.zeros(len(short), dtype=np.uint64)
            for j in range(ngram):
                idx = np.where(j < width[short], starts[short] + j, -1)
                part = part * _GOLD + padded[idx]
            acc[short] = part
    return mix64(acc), out_offsets
