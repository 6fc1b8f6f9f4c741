"""Exact keys and near-dup token hashes of a text column, computed over its UTF-8 bytes with numpy.

The definitions are those of :mod:`datahygiene.stages.dedup.normalize` (trim, split on ASCII
whitespace, NFKC + lower case per word, ASCII punctuation as separators, polynomial token hash);
this module computes them without a Python object per word. ASCII words, nearly all of them in
real text, are handled with byte tables over the whole buffer; the few words with non-ASCII bytes
(and rows whose ends may hold Unicode whitespace) take the Arrow path, once per distinct word.
Rows are processed in chunks of about :data:`CHUNK_BYTES`, so temporaries stay bounded.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from datahygiene.stages.dedup.normalize import base_form, hash_strings, mix64, near_from_base

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

#: Text bytes per chunk (whole rows; a longer row is a chunk of its own).
CHUNK_BYTES = 1 << 20
#: Chunks processed at once (threads); results do not depend on it.
THREADS = min(4, os.cpu_count() or 1)
T = TypeVar("T")

_BASE = 0x100000001B3  # normalize._BYTE_BASE
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_SPACE = 32
_WS = np.zeros(256, dtype=np.bool_)  # what pyarrow's ascii_split_whitespace splits on
_WS[[9, 10, 11, 12, 13, 32]] = True
_ALNUM = np.array([c < 128 and chr(c).isalnum() for c in range(256)], dtype=np.bool_)
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[ord("A") : ord("Z") + 1] += 32
# Bytes that utf8_trim_whitespace may strip beyond the split whitespace: U+001C..U+001F and any
# non-ASCII character (U+0085, U+00A0, U+2000..., whose UTF-8 bytes are all >= 0x80).
_EDGE = np.zeros(256, dtype=np.bool_)
_EDGE[[0x1C, 0x1D, 0x1E, 0x1F]] = True
_EDGE[0x80:] = True


@dataclass
class TextFeatures:
    """Per row: exact key and whether it is usable; near-form token hashes with row offsets."""

    exact_key: U64
    exact_ok: Mask
    token_hashes: U64
    token_offsets: I64


def _powers(size: int) -> tuple[U64, U64]:
    """``BASE**j`` and ``BASE**-j`` modulo 2**64 for ``j < size`` (kept for chunk-sized tables only)."""
    return _chunk_powers() if size <= CHUNK_BYTES else _compute_powers(size)


@cache
def _chunk_powers() -> tuple[U64, U64]:
    return _compute_powers(CHUNK_BYTES)


def _compute_powers(size: int) -> tuple[U64, U64]:
    """BASE is odd, so it has an inverse modulo 2**64."""
    out = []
    for base in (_BASE, pow(_BASE, -1, 1 << 64)):
        steps = np.full(size, base, dtype=np.uint64)
        steps[0] = 1
        out.append(np.multiply.accumulate(steps))
    return out[0], out[1]


def _parts(texts: pa.Array) -> tuple[U8, I64]:
    """UTF-8 bytes (nulls as empty: a null row has no key and no token) and row offsets from 0."""
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    texts = texts.cast(pa.large_string())
    buffers = texts.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def _chunks(offsets: I64) -> list[tuple[int, int]]:
    """Row ranges of about CHUNK_BYTES each."""
    bounds = [0]
    n = len(offsets) - 1
    while bounds[-1] < n:
        start = bounds[-1]
        stop = int(np.searchsorted(offsets, offsets[start] + CHUNK_BYTES, side="right")) - 1
        bounds.append(min(n, max(stop, start + 1)))
    return list(itertools.pairwise(bounds))


def chunks(texts: pa.Array) -> Iterator[tuple[int, int, Chunk]]:
    """The rows of ``texts`` as chunks of about CHUNK_BYTES: ``(first row, end row, chunk)``.

    Callers finish each chunk (keys, tokens, signatures) before the next, so every temporary array is
    chunk-sized: it stays in cache and its memory is reused instead of faulted in afresh.
    """
    data, offsets = _parts(texts.cast(pa.string()))
    for lo, hi in _chunks(offsets):
        yield lo, hi, Chunk(data[offsets[lo] : offsets[hi]], offsets[lo : hi + 1] - offsets[lo])


def map_chunks(texts: pa.Array, work: Callable[[Chunk], T], threads: int = THREADS) -> Iterator[tuple[int, int, T]]:
    """``(first row, end row, work(chunk))`` for every chunk, in order, ``threads`` chunks at a time.

    numpy, hashlib and rensa release the GIL on chunk-sized arrays, so the chunks of a batch use every core;
    at most ``threads + 1`` chunks are in flight (bounded memory).
    """
    data, offsets = _parts(texts.cast(pa.string()))

    def run(lo: int, hi: int) -> T:
        return work(Chunk(data[offsets[lo] : offsets[hi]], offsets[lo : hi + 1] - offsets[lo]))

    ranges = _chunks(offsets)
    if threads <= 1 or len(ranges) <= 1:
        for lo, hi in ranges:
            yield lo, hi, run(lo, hi)
        return
    pool = _pool(threads)
    pending: deque[tuple[int, int, Future[T]]] = deque()
    for lo, hi in ranges:
        pending.append((lo, hi, pool.submit(run, lo, hi)))
        if len(pending) > threads:
            first, last, future = pending.popleft()
            yield first, last, future.result()
    while pending:
        first, last, future = pending.popleft()
        yield first, last, future.result()


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per size: allocators keep per-thread heaps, which a new thread per batch would
    leave behind (the process's memory then grows with every batch)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="dedup-text")


def analyse(texts: pa.Array, *, exact: bool = True, near: bool = True) -> TextFeatures:
    """Exact keys (BLAKE2b-64 of the exact normal form) and near-form token hashes of every row."""
    n = len(texts)
    keys = np.zeros(n, dtype=np.uint64)
    key_ok = np.zeros(n, dtype=np.bool_)
    counts = np.zeros(n, dtype=np.int64)
    hashes: list[U64] = []
    for lo, hi, chunk in chunks(texts):
        if exact:
            keys[lo:hi], key_ok[lo:hi] = chunk.exact_keys()
        if near:
            chunk_hashes, counts[lo:hi] = chunk.near_tokens()
            hashes.append(chunk_hashes)
    token_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=token_offsets[1:])
    token_hashes = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
    return TextFeatures(keys, key_ok, token_hashes, token_offsets)


def exact_forms(texts: pa.Array) -> pa.Array:
    """The exact normal form of every row, as this module builds it (nulls stay null)."""
    pieces, lengths = [], []
    for _lo, _hi, chunk in chunks(texts):
        out, out_offsets = chunk.exact_bytes()
        pieces.append(out)
        lengths.append(np.diff(out_offsets))
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    out_offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(all_lengths, out=out_offsets[1:])
    buffer = pa.py_buffer(np.concatenate(pieces).tobytes() if pieces else b"")
    forms = pa.Array.from_buffers(pa.large_string(), len(texts), [None, pa.py_buffer(out_offsets), buffer])
    return pc.if_else(texts.is_valid(), forms, pa.nulls(len(texts), pa.large_string())).cast(pa.string())


class Chunk:
    """One chunk of rows: word boundaries, then exact bytes and/or near tokens."""

    def __init__(self, data: U8, offsets: I64) -> None:
        self.data, self.offsets = data, offsets
        self.nonempty = offsets[1:] > offsets[:-1]
        self.sep = (data == _SPACE) | ((data - np.uint8(9)) < np.uint8(5))  # pyarrow's ASCII whitespace
        self.starts, self.ends = self._runs(~self.sep)
        if self._trim_row_ends():
            self.starts, self.ends = self._runs(~self.sep)
        # cumulative word count at each row's end
        self.row_of_word = np.searchsorted(self.starts, offsets[1:], side="left")
        high = np.flatnonzero((data >= 0x80) & ~self.sep)
        words = np.searchsorted(self.starts, high, side="right") - 1
        self.special_idx = words[np.r_[True, words[1:] != words[:-1]]] if len(words) else np.zeros(0, np.int64)
        upper = ((data - np.uint8(ord("A"))) < np.uint8(26)).view(np.uint8)
        self.lowered = data + (upper << np.uint8(5))
        self._vocab: tuple[pa.Array, I64] | None = None

    def _runs(self, inside: Mask) -> tuple[I64, I64]:
        """Starts and ends of the maximal runs of ``inside`` bytes that do not cross a row boundary."""
        n = len(inside)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        first = self.offsets[:-1][self.nonempty]
        last = self.offsets[1:][self.nonempty] - 1
        begin = np.empty(n, dtype=np.bool_)
        begin[0] = inside[0]
        np.greater(inside[1:], inside[:-1], out=begin[1:])
        begin[first] = inside[first]
        finish = np.empty(n, dtype=np.bool_)
        finish[-1] = inside[-1]
        np.greater(inside[:-1], inside[1:], out=finish[:-1])
        finish[last] = inside[last]
        return np.flatnonzero(begin), np.flatnonzero(finish) + 1

    def _trim_row_ends(self) -> bool:
        """Rows whose first or last word starts/ends with a byte that utf8_trim_whitespace may strip: trim them."""
        starts, ends = self.starts, self.ends
        if len(starts) == 0:
            return False
        first = np.searchsorted(starts, self.offsets[:-1], side="left")
        last = np.searchsorted(ends, self.offsets[1:], side="right") - 1
        rows = np.flatnonzero(first < np.searchsorted(starts, self.offsets[1:], side="left"))
        edge = _EDGE[self.data[starts[first[rows]]]] | _EDGE[self.data[ends[last[rows]] - 1]]
        rows = rows[edge]
        if len(rows) == 0:
            return False
        lo, hi = self.offsets[rows], self.offsets[rows + 1]
        texts = _strings(self.data, lo, hi)
        length = pc.binary_length(texts).to_numpy()
        left = length - pc.binary_length(pc.utf8_ltrim_whitespace(texts)).to_numpy()
        right = length - pc.binary_length(pc.utf8_rtrim_whitespace(texts)).to_numpy()
        for a, b, left_n, right_n in zip(lo.tolist(), hi.tolist(), left.tolist(), right.tolist(), strict=True):
            self.sep[a : a + left_n] = True
            self.sep[max(a, b - right_n) : b] = True
        return True

    def _special_vocab(self) -> tuple[pa.Array, I64]:
        """Distinct words with non-ASCII bytes (as Arrow strings) and each such word's vocabulary index."""
        if self._vocab is None:
            s, e = self.starts[self.special_idx], self.ends[self.special_idx]
            encoded = pc.dictionary_encode(_strings(self.data, s, e))
            self._vocab = encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        return self._vocab

    def _special_bytes(self) -> I64:
        """Positions of every byte of the words with non-ASCII bytes."""
        s, e = self.starts[self.special_idx], self.ends[self.special_idx]
        return _positions(s, e - s)

    def _row_sums(self, per_word: I64) -> I64:
        """Sum of a per-word quantity over each row's words."""
        cum = np.zeros(len(per_word) + 1, dtype=np.int64)
        np.cumsum(per_word, out=cum[1:])
        return np.diff(cum[self.row_of_word], prepend=0)

    # -- exact --------------------------------------------------------------------------------------
    def exact_bytes(self) -> tuple[U8, I64]:
        """The exact normal form of each row (words in base form joined by one space) and its offsets."""
        starts, ends = self.starts, self.ends
        word_counts = np.diff(self.row_of_word, prepend=0)
        last_of_row = np.zeros(len(starts), dtype=np.bool_)
        last_of_row[self.row_of_word[word_counts > 0] - 1] = True
        joints = ends[~last_of_row]  # the one separator kept after each word but the row's last
        keep = ~self.sep
        keep[joints] = True
        out = self.lowered.copy() if len(joints) else self.lowered
        out[joints] = _SPACE
        lengths = (ends - starts).astype(np.int64)
        special = self.special_idx
        if len(special) == 0:
            result = np.compress(keep, out)
        else:
            vocab, index = self._special_vocab()
            form_data, form_offsets = _string_bytes(base_form(vocab).cast(pa.large_string()))
            form_len = np.diff(form_offsets)[index]
            keep[self._special_bytes()] = False
            ascii_len = lengths.copy()
            ascii_len[special] = 0
            before = np.cumsum(ascii_len) - ascii_len + np.arange(len(starts)) - (np.cumsum(last_of_row) - last_of_row)
            lengths[special] = form_len
            replacement = _gather(form_data, form_offsets[:-1][index], form_len)
            result = np.insert(np.compress(keep, out), np.repeat(before[special], form_len), replacement)
        row_len = self._row_sums(lengths) + np.maximum(word_counts - 1, 0)
        row_offsets = np.zeros(len(row_len) + 1, dtype=np.int64)
        np.cumsum(row_len, out=row_offsets[1:])
        return result, row_offsets

    def exact_keys(self) -> tuple[U64, Mask]:
        """BLAKE2b-64 of each row's exact normal form, and whether it is non-empty."""
        result, row_offsets = self.exact_bytes()
        view = memoryview(result.data)
        keys = np.zeros(len(row_offsets) - 1, dtype=np.uint64)
        ok = np.diff(row_offsets) > 0
        bounds = row_offsets.tolist()
        for i in np.flatnonzero(ok).tolist():
            digest = hashlib.blake2b(view[bounds[i] : bounds[i + 1]], digest_size=8).digest()
            keys[i] = int.from_bytes(digest, "little")
        return keys, ok

    # -- near ---------------------------------------------------------------------------------------
    def near_tokens(self) -> tuple[U64, I64]:
        """Hashes of the near-form tokens (alphanumeric runs of each word's base form), and counts per row."""
        lowered, offsets = self.lowered, self.offsets
        alnum = ((lowered - np.uint8(ord("a"))) < np.uint8(26)) | ((lowered - np.uint8(ord("0"))) < np.uint8(10))
        special = self.special_idx
        if len(special):
            alnum[self._special_bytes()] = False
        pstarts, pends = self._runs(alnum)
        hashes = _piece_hashes(lowered, pstarts, pends)
        counts = np.diff(np.searchsorted(pstarts, offsets))
        if len(special):
            vocab, index = self._special_vocab()
            entry_hashes, entry_offsets = _near_pieces(vocab)
            per_word = np.diff(entry_offsets)[index]
            side = _gather(entry_hashes, entry_offsets[:-1][index], per_word)
            at = np.searchsorted(pstarts, self.starts[special])
            hashes = np.insert(hashes, np.repeat(at, per_word), side)
            rows = np.searchsorted(offsets, self.starts[special], side="right") - 1
            counts = counts + np.bincount(rows, weights=per_word, minlength=len(counts)).astype(np.int64)
        return hashes, counts


def _strings(data: U8, starts: I64, ends: I64) -> pa.Array:
    """``data[starts[k]:ends[k]]`` for every k as an Arrow string array (the slices are whole UTF-8 characters)."""
    lengths = ends - starts
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = pa.py_buffer(_gather(data, starts, lengths).tobytes())
    strings = pa.Array.from_buffers(pa.large_string(), len(starts), [None, pa.py_buffer(offsets), values])
    return strings.cast(pa.string())


def _string_bytes(strings: pa.Array) -> tuple[U8, I64]:
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    return data, offsets.astype(np.int64)


def _positions(starts: I64, lengths: I64) -> I64:
    """``range(starts[k], starts[k] + lengths[k])`` for every k, concatenated."""
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths
    return np.repeat(starts - first, lengths) + np.arange(total, dtype=np.int64)


def _gather(values: npt.NDArray[np.generic], starts: I64, lengths: I64) -> npt.NDArray[np.generic]:
    """``values[starts[k] : starts[k] + lengths[k]]`` for every k, concatenated."""
    return values[_positions(starts, lengths)]


def _piece_hashes(lowered: U8, pstarts: I64, pends: I64) -> U64:
    """``normalize.hash_strings`` of every piece ``lowered[s:e]`` (ASCII bytes), from one prefix sum.

    ``sum((b + 1) * BASE**(j - s))`` over a piece is ``(P[e] - P[s]) * BASE**-s`` with ``P`` the prefix sum
    of ``(b + 1) * BASE**j``; bytes outside pieces enter ``P`` but cancel out (``b + 1`` may wrap there).
    """
    n = len(lowered)
    if len(pstarts) == 0:
        return np.empty(0, np.uint64)
    powers, inverse = _powers(n)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        contrib = np.multiply(lowered + np.uint8(1), powers[:n], dtype=np.uint64)
        np.cumsum(contrib, out=prefix[1:])
        sums = (prefix[pends] - prefix[pstarts]) * inverse[pstarts]
        lengths = (pends - pstarts).astype(np.uint64)
    return mix64(sums ^ (lengths * _GOLD))


def _near_pieces(vocab: pa.Array) -> tuple[U64, I64]:
    """Per vocabulary word: hashes of its near-form pieces (punctuation as spaces), flat, with offsets."""
    pieces = pc.ascii_split_whitespace(pc.utf8_trim_whitespace(near_from_base(base_form(vocab))))
    counts = pc.fill_null(pc.list_value_length(pieces), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(pieces)
    nonempty = pc.greater(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    entry = np.repeat(np.arange(len(counts)), counts)
    per_entry = np.bincount(entry[nonempty], minlength=len(counts)).astype(np.int64)
    hashes = hash_strings(flat.filter(pa.array(nonempty))) if nonempty.any() else np.empty(0, np.uint64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(per_entry, out=offsets[1:])
    return hashes, offsets
