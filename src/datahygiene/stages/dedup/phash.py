"""Perceptual hashes (64-bit DCT pHash) computed in batches, with border trimming and mirror hashes.

Named ``phash`` so it does not shadow the ``imagehash`` library.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import numpy.typing as npt
from PIL import Image

U64 = npt.NDArray[np.uint64]
_SIDE = 32  # the picture is reduced to 32x32 grey levels before the DCT
_LOW = 8  # the 8x8 lowest frequencies give the 64 bits
_WORK = 128  # the grey picture is first reduced to at most this side (cheap), trimmed, then resized
WORK_SIDE = _WORK


@cache
def _dct_matrix(n: int) -> npt.NDArray[np.float64]:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    return np.cos(np.pi * (2 * x + 1) * k / (2 * n))


def open_reduced(data: bytes) -> Image.Image:
    """Decode image bytes for hashing only; JPEGs use Pillow's ``draft`` (DCT-domain downscale, up to 8x)."""
    image = Image.open(io.BytesIO(data))
    image.draft("L", (_WORK, _WORK))
    return image


def trim_borders(grey: npt.NDArray[np.uint8], tolerance: int = 12, max_fraction: float = 0.4) -> npt.NDArray[np.uint8]:
    """Remove uniform bars (letterbox/pillarbox) whose colour matches the corners, at most ``max_fraction`` a side."""
    h, w = grey.shape
    if h < 8 or w < 8:
        return grey
    arr = grey.astype(np.int16)
    colour = int(np.median([arr[0, 0], arr[0, -1], arr[-1, 0], arr[-1, -1]]))
    flat_rows = np.abs(arr - colour).max(axis=1) <= tolerance
    flat_cols = np.abs(arr - colour).max(axis=0) <= tolerance

    def run(mask: npt.NDArray[np.bool_], limit: int) -> int:
        bad = np.flatnonzero(~mask[:limit])
        return int(bad[0]) if len(bad) else limit

    top, bottom = run(flat_rows, int(h * max_fraction)), run(flat_rows[::-1], int(h * max_fraction))
    left, right = run(flat_cols, int(w * max_fraction)), run(flat_cols[::-1], int(w * max_fraction))
    return grey[top : h - bottom, left : w - right]


def grey_thumbnail(image: Image.Image, trim: bool) -> npt.NDArray[np.float64]:
    """The 32x32 grey picture the hash is computed from (after optional border trimming)."""
    grey = image.convert("L")
    if max(grey.size) > _WORK:
        grey.thumbnail((_WORK, _WORK), Image.Resampling.BOX)
    arr = np.asarray(grey)
    if trim:
        arr = trim_borders(arr)
    small = Image.fromarray(arr).resize((_SIDE, _SIDE), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float64)


def _bits(coeffs: npt.NDArray[np.float64]) -> U64:
    flat = coeffs.reshape(len(coeffs), _LOW * _LOW)
    bits = flat > np.median(flat, axis=1, keepdims=True)
    weights = np.uint64(1) << np.arange(_LOW * _LOW, dtype=np.uint64)
    out: U64 = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return out


def phash_batch(thumbs: npt.NDArray[np.float64]) -> tuple[U64, U64]:
    """pHash of each ``[n, 32, 32]`` picture and of its horizontal mirror (one batched DCT for both)."""
    d = _dct_matrix(_SIDE)[:_LOW]
    coeffs = d @ thumbs @ d.T  # [n, 8, 8]: rows = vertical frequency, columns = horizontal
    # Mirroring left-right multiplies horizontal frequency u by (-1)^u: no second DCT needed.
    sign = np.where(np.arange(_LOW) % 2 == 0, 1.0, -1.0)[None, None, :]
    return _bits(coeffs), _bits(coeffs * sign)


def hamming(a: U64, b: U64) -> npt.NDArray[np.int64]:
    """Bitwise Hamming distance of two uint64 arrays (broadcasting)."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def mih_chunks(radius: int) -> int:
    """How many 64-bit substrings multi-index hashing splits a hash into for ``radius`` (per-chunk radius <= 2)."""
    return min(16, max(1, -(-(radius + 1) // 3)))


@cache
def _flip_masks(bits: int, max_flips: int) -> U64:
    masks = [0]
    for i in range(bits):
        masks.append(1 << i)
    if max_flips >= 2:
        masks += [(1 << i) | (1 << j) for i in range(bits) for j in range(i + 1, bits)]
    return np.array(masks, dtype=np.uint64)


def chunk_layout(radius: int) -> tuple[list[tuple[int, int]], int]:
    """Bit ranges ``(shift, width)`` of the substrings and the per-substring search radius (pigeonhole)."""
    m = mih_chunks(radius)
    widths = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
    shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    return list(zip(shifts, widths, strict=True)), radius // m


def insert_keys(hashes: U64, radius: int) -> npt.NDArray[np.uint64]:
    """The ``m`` substring keys of each hash, ``[n, m]``, salted by substring number."""
    layout, _ = chunk_layout(radius)
    cols = [
        ((hashes >> np.uint64(s)) & np.uint64((1 << w) - 1)) | (np.uint64(i) << np.uint64(56))
        for i, (s, w) in enumerate(layout)
    ]
    return np.stack(cols, axis=1) if cols else np.empty((len(hashes), 0), np.uint64)


def probe_keys(hashes: U64, radius: int) -> npt.NDArray[np.uint64]:
    """Every substring key within the per-substring radius of each hash, ``[n, probes]``.

    If two hashes differ in at most ``radius`` bits over ``m`` substrings, some substring differs in at most
    ``radius // m`` bits, so probing those keys finds every true match without scanning the index.
    """
    layout, sub_radius = chunk_layout(radius)
    cols = []
    for i, (s, w) in enumerate(layout):
        chunk = (hashes >> np.uint64(s)) & np.uint64((1 << w) - 1)
        probes = chunk[:, None] ^ _flip_masks(w, sub_radius)[None, :]
        cols.append(probes | (np.uint64(i) << np.uint64(56)))
    return np.concatenate(cols, axis=1)
