"""Text normalisation and vectorised token hashing on Arrow string arrays."""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_MASK64 = (1 << 64) - 1
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_BYTE_BASE = np.uint64(0x100000001B3)


def base_form(texts: pa.Array) -> pa.Array:
    """NFKC (only rows that are not pure ASCII, which NFKC leaves unchanged) and lower case; nulls stay null."""
    texts = texts.cast(pa.string())
    non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(texts), True))
    rows = np.flatnonzero(non_ascii.to_numpy(zero_copy_only=False))
    if len(rows):
        # CPython's unicodedata is ~1.4x faster here than Arrow's utf8proc kernel.
        fixed = pa.array([unicodedata.normalize("NFKC", t) for t in texts.take(pa.array(rows)).to_pylist()])
        texts = pc.replace_with_mask(texts, non_ascii, fixed)
    return pc.utf8_lower(texts)


def exact_from_base(base: pa.Array) -> pa.Array:
    """Whitespace runs collapsed to one space, ends trimmed: the text exact dedup compares.

    Splits on ASCII whitespace only: NFKC already maps the Unicode space characters to U+0020.
    """
    return pc.binary_join(pc.ascii_split_whitespace(pc.utf8_trim_whitespace(base)), " ")


_PUNCT = np.arange(256, dtype=np.uint8)
_PUNCT[[c for c in range(128) if not chr(c).isalnum()]] = ord(" ")


def near_from_base(base: pa.Array) -> pa.Array:
    """ASCII punctuation and symbols turned into spaces (a byte lookup table over the whole buffer)."""
    base = base.cast(pa.large_string())
    validity, offsets, data = base.buffers()
    if data is None:
        return base
    mapped = _PUNCT[np.frombuffer(data, dtype=np.uint8)]
    return pa.Array.from_buffers(
        pa.large_string(), len(base), [validity, offsets, pa.py_buffer(mapped)], base.null_count, base.offset
    )


def exact_normal_form(texts: pa.Array) -> pa.Array:
    """NFKC, lower case, whitespace runs collapsed to one space and trimmed (nulls stay null)."""
    return exact_from_base(base_form(texts))


def near_normal_form(texts: pa.Array) -> pa.Array:
    """``exact_normal_form`` with ASCII punctuation and symbols turned into spaces (for shingling)."""
    return near_from_base(base_form(texts))


def mix64(values: U64) -> U64:
    """SplitMix64 finaliser: a cheap bijective scrambler for uint64 arrays."""
    z = values.astype(np.uint64, copy=True)
    t = np.empty_like(z)
    with np.errstate(over="ignore"):
        for shift, factor in ((30, _C1), (27, _C2), (31, None)):
            np.right_shift(z, np.uint64(shift), out=t)
            np.bitwise_xor(z, t, out=z)
            if factor is not None:
                np.multiply(z, factor, out=z)
    return z


def digest64(texts: pa.Array) -> tuple[U64, npt.NDArray[np.bool_]]:
    """BLAKE2b-64 of each string's UTF-8 bytes, and a mask of rows that are non-null and non-empty."""
    keys = np.zeros(len(texts), dtype=np.uint64)
    valid = np.zeros(len(texts), dtype=np.bool_)
    for i, value in enumerate(texts.to_pylist()):  # hashlib has no vectorised form
        if value:
            keys[i] = int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little")
            valid[i] = True
    return keys, valid


def _string_parts(strings: pa.Array) -> tuple[npt.NDArray[np.uint8], I64]:
    """The contiguous UTF-8 bytes and row offsets (starting at 0) of a non-null string array."""
    strings = strings.cast(pa.large_string())
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    return data, (offsets - offsets[0]).astype(np.int64)


def hash_strings(strings: pa.Array) -> U64:
    """A 64-bit polynomial hash of every (non-null) string, vectorised over the byte buffer."""
    data, offsets = _string_parts(strings)
    lengths = np.diff(offsets)
    out = np.zeros(len(lengths), dtype=np.uint64)
    if len(data) == 0:
        return mix64(out ^ lengths.astype(np.uint64))
    max_len = int(lengths.max())
    powers = np.ones(max_len, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(1, max_len):  # short: longest token
            powers[k] = powers[k - 1] * _BYTE_BASE
        position = np.arange(len(data), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        contrib = (data.astype(np.uint64) + np.uint64(1)) * powers[position]
    nonempty = lengths > 0
    out[nonempty] = np.add.reduceat(contrib, offsets[:-1][nonempty])
    return mix64(out ^ (lengths.astype(np.uint64) * _GOLD))


def tokens(texts: pa.Array, unit: str) -> tuple[U64, I64]:
    """Hashes of the words (``unit="word"``) or UTF-8 bytes (``"char"``) of non-null texts, plus row offsets."""
    if unit == "word":
        words = pc.ascii_split_whitespace(pc.utf8_trim_whitespace(texts))
        counts = pc.fill_null(pc.list_value_length(words), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        flat = pc.list_flatten(words)
        if len(flat):
            encoded = pc.dictionary_encode(flat)  # hash each distinct word once
            indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            hashes = hash_strings(encoded.dictionary)[indices]
        else:
            hashes = np.empty(0, dtype=np.uint64)
    else:
        data, offsets = _string_parts(pc.fill_null(texts, ""))
        counts = np.diff(offsets)
        hashes = mix64(data.astype(np.uint64) + np.uint64(1))
    row_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=row_offsets[1:])
    return hashes, row_offsets


def shingles(token_hashes: U64, row_offsets: I64, ngram: int) -> tuple[U64, I64]:
    """Hashes of every run of ``ngram`` consecutive tokens per row (whole row when shorter), plus offsets.

    One rolling polynomial over the whole token buffer (slices, no gathers); the runs that cross a row's
    end are dropped, and each row shorter than ``ngram`` gets one zero-padded hash of all its tokens.
    """
    counts = np.diff(row_offsets)
    per_row = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    out_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(per_row, out=out_offsets[1:])
    span = len(token_hashes) - ngram + 1
    with np.errstate(over="ignore"):
        if span > 0:
            rolling = token_hashes[:span].copy()
            for j in range(1, ngram):
                rolling *= _GOLD
                rolling += token_hashes[j : j + span]
            valid = np.ones(span, dtype=np.bool_)
            ends = row_offsets[1:][counts > 0]
            crossing = (ends[:, None] - np.arange(1, ngram)[None, :]).reshape(-1)
            valid[crossing[(crossing >= 0) & (crossing < span)]] = False
            long_hashes = rolling[valid]
        else:
            long_hashes = np.empty(0, dtype=np.uint64)
        short = np.flatnonzero((counts > 0) & (counts < ngram))
        if len(short):  # rows shorter than ngram: one shingle of the whole row, zero-padded
            padded = np.append(token_hashes, np.uint64(0))
            part = np.zeros(len(short), dtype=np.uint64)
            starts, widths = row_offsets[short], counts[short]
            for j in range(ngram):
                part = part * _GOLD + padded[np.where(j < widths, starts + j, -1)]
            long_before = out_offsets[short] - np.arange(len(short))
            acc = np.insert(long_hashes, long_before, part)
        else:
            acc = long_hashes
    return mix64(acc), out_offsets
