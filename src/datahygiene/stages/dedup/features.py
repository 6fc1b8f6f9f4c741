"""Per-batch dedup features: exact keys, MinHash signatures and band keys, pHashes, embeddings."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from datahygiene.core.stage import Batch
from datahygiene.io.decode import REDUCED_MARK, decode_pool
from datahygiene.stages.dedup import minhash, phash, textbytes
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.semantic import clean_embeddings

Mask = npt.NDArray[np.bool_]


@dataclass
class Features:
    """Everything the matcher needs about one batch (arrays have one entry per row)."""

    rows: int
    text_key: npt.NDArray[np.uint64] | None = None
    text_ok: Mask | None = None
    sigs: npt.NDArray[np.uint32] | None = None
    bands: npt.NDArray[np.uint64] | None = None
    sig_ok: Mask | None = None
    bytes_key: npt.NDArray[np.uint64] | None = None
    bytes_ok: Mask | None = None
    pixel_key: npt.NDArray[np.uint64] | None = None
    ph: npt.NDArray[np.uint64] | None = None
    ph_flip: npt.NDArray[np.uint64] | None = None
    #: Rows whose pHash takes part in near-image matching (decoded, and not smaller than ``min_side``).
    ph_ok: Mask | None = None
    image_ok: Mask = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    emb: npt.NDArray[np.float32] | None = None
    emb_ok: Mask | None = None


def _digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _image_bytes(batch: Batch) -> list[bytes | None]:
    column = batch.column("image")
    if column is None or not pa.types.is_struct(column.type):
        return [None] * batch.num_rows
    values: list[bytes | None] = pc.struct_field(column, "bytes").to_pylist()
    return values


def compute(batch: Batch, params: DedupParams) -> Features:
    """Compute the enabled features of a batch. Rows that failed to decode get ``ok = False`` everywhere."""
    n = batch.num_rows
    feats = Features(rows=n)
    images: list[Image.Image | None] = list(batch.images) if batch.images is not None else [None] * n
    feats.image_ok = np.array([im is not None for im in images], dtype=np.bool_)
    text_rows = np.ones(n, dtype=np.bool_) if params.text_on_image_rows else ~feats.image_ok
    texts = batch.column("text")
    if texts is None:
        texts = pa.nulls(n, pa.string())
    near = params.near_text
    _text_features(feats, texts, params)
    if feats.text_ok is not None:
        feats.text_ok &= text_rows
    if feats.sigs is not None and feats.sig_ok is not None:
        feats.sig_ok &= text_rows
        feats.bands = minhash.band_keys(feats.sigs, near.bands, near.num_perm // near.bands)
    _image_features(feats, batch, images, params)
    sem = params.semantic
    raw = batch.artifacts.get(sem.artifact) if sem.enabled else None
    if raw is not None:
        feats.emb, feats.emb_ok = clean_embeddings(raw, n)
    return feats


def compute_ahead(batch: Batch, params: DedupParams, rows: int) -> Iterator[tuple[int, int, Features]]:
    """``(first row, end row, features)`` of consecutive slices of about ``rows`` rows, in order.

    While the caller works on one slice (the matcher, on the calling thread), the next slice's features are
    computed on a helper thread (its chunks on the text pool: numpy, hashlib and rensa release the GIL), so
    both cores stay busy. Only text-only batches are cut (no pictures, no artifacts); others come whole.
    Features do not depend on the cut: each row's come from that row alone.
    """
    n = batch.num_rows
    if n <= rows or batch.images is not None or batch.artifacts:
        yield 0, n, compute(batch, params)
        return
    bounds = [*range(0, n, rows), n]
    slices = list(itertools.pairwise(bounds))
    pool = _ahead_pool()

    def part(lo: int, hi: int) -> Features:
        return compute(Batch(records=batch.records.slice(lo, hi - lo)), params)

    pending = pool.submit(part, *slices[0])
    for k, (lo, hi) in enumerate(slices):
        feats = pending.result()
        if k + 1 < len(slices):
            pending = pool.submit(part, *slices[k + 1])
        yield lo, hi, feats


@cache
def _ahead_pool() -> ThreadPoolExecutor:
    """One long-lived helper thread for :func:`compute_ahead` (see ``textbytes._pool`` on per-thread heaps)."""
    return ThreadPoolExecutor(1, thread_name_prefix="dedup-ahead")


def _text_features(feats: Features, texts: pa.Array, params: DedupParams) -> None:
    """Exact keys and word-shingle signatures, chunk by chunk (char shingles: whole batch, see minhash)."""
    n, near = feats.rows, params.near_text
    word_tokens = near.enabled and near.shingle == "word"
    if near.enabled and not word_tokens:
        feats.sigs, feats.sig_ok = minhash.signatures(
            texts, unit=near.shingle, ngram=near.ngram, num_perm=near.num_perm, seed=near.seed
        )
    elif word_tokens:
        feats.sigs, feats.sig_ok = np.zeros((n, near.num_perm), dtype=np.uint32), np.zeros(n, dtype=np.bool_)
    if params.exact.text:
        feats.text_key, feats.text_ok = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.bool_)
    elif not word_tokens:
        return
    exact = params.exact.text

    def work(chunk: textbytes.Chunk) -> tuple[Any, Any]:
        keys = chunk.exact_keys() if exact else None
        if not word_tokens:
            return keys, None
        hashes, counts = chunk.near_tokens()
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        sigs = minhash.signatures_from_tokens(hashes, offsets, ngram=near.ngram, num_perm=near.num_perm, seed=near.seed)
        return keys, sigs

    for lo, hi, (keys, sigs) in textbytes.map_chunks(texts, work):
        if keys is not None and feats.text_key is not None and feats.text_ok is not None:
            feats.text_key[lo:hi], feats.text_ok[lo:hi] = keys
        if sigs is not None and feats.sigs is not None and feats.sig_ok is not None:
            feats.sigs[lo:hi], feats.sig_ok[lo:hi] = sigs


def _image_features(feats: Features, batch: Batch, images: list[Image.Image | None], params: DedupParams) -> None:
    n = batch.num_rows
    ok = feats.image_ok
    if not ok.any():
        return  # no usable picture: no image feature can match or be kept
    raw: list[bytes | None] = _image_bytes(batch) if (params.exact.image_bytes or params.near_image.from_bytes) else []
    rows = np.flatnonzero(ok).tolist()
    pool = decode_pool()  # Pillow and hashlib release the GIL: one picture per core
    if params.exact.image_bytes:
        feats.bytes_key = np.zeros(n, dtype=np.uint64)
        feats.bytes_ok = np.zeros(n, dtype=np.bool_)
        with_bytes = [i for i in rows if raw[i]]
        feats.bytes_key[with_bytes] = list(pool.map(_digest, [raw[i] for i in with_bytes]))
        feats.bytes_ok[with_bytes] = True
    if params.exact.image_pixels:
        feats.pixel_key = np.zeros(n, dtype=np.uint64)
        feats.pixel_key[rows] = list(pool.map(_pixel_key, [images[i] for i in rows]))
    if params.near_image.enabled:
        thumbs = np.zeros((n, 32, 32), dtype=np.float64)

        def thumbnail(i: int) -> npt.NDArray[np.float64]:
            return phash.grey_thumbnail(_hash_source(images[i], raw, i, params), params.near_image.trim_borders)

        for i, thumb in zip(rows, pool.map(thumbnail, rows), strict=True):
            thumbs[i] = thumb
        feats.ph, feats.ph_flip = phash.phash_batch(thumbs)
        side = params.near_image.min_side
        feats.ph_ok = ok & np.array([im is not None and min(im.size) >= side for im in images], dtype=np.bool_)


def _pixel_key(image: Image.Image | None) -> int:
    """Digest of the decoded pixels with mode and size (equal pictures in different files match)."""
    assert image is not None
    header = f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode()
    return _digest(header + image.tobytes())


def _hash_source(image: Image.Image | None, raw: list[bytes | None], i: int, params: DedupParams) -> Image.Image:
    """The picture to hash: a reduced-size decode of the bytes when asked for (and possible), else the decoded one.

    The runner's own reduced decode (when no stage needs full pixels) is that same decode: it is reused.
    """
    if params.near_image.from_bytes and image is not None and image.info.get(REDUCED_MARK) == phash.WORK_SIDE:
        return image
    if params.near_image.from_bytes and raw and raw[i]:
        data = raw[i]
        assert data is not None
        try:
            reduced = phash.open_reduced(data)
            reduced.load()
            return reduced
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            pass  # fall back to the runner's decoded picture
    assert image is not None
    return image


def any_ok(feats: Features) -> Mask:
    """Rows with at least one usable feature (the rows that can become representatives)."""
    ok = np.zeros(feats.rows, dtype=np.bool_)
    for mask in (feats.text_ok, feats.sig_ok, feats.emb_ok):
        if mask is not None:
            ok |= mask
    return ok | feats.image_ok
