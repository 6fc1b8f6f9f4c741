"""Per-batch dedup features: exact keys, MinHash signatures and band keys, pHashes, embeddings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from datahygiene.core.stage import Batch
from datahygiene.stages.dedup import minhash, phash
from datahygiene.stages.dedup.normalize import analyse, digest64
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
    word_tokens = near.enabled and near.shingle == "word"
    if params.exact.text or near.enabled:
        exact, hashes, offsets = analyse(texts)
        if params.exact.text:
            keys, ok = digest64(exact)
            feats.text_key, feats.text_ok = keys, ok & text_rows
        if near.enabled:
            if word_tokens:
                sigs, ok = minhash.signatures_from_tokens(
                    hashes, offsets, ngram=near.ngram, num_perm=near.num_perm, seed=near.seed
                )
            else:
                sigs, ok = minhash.signatures(
                    texts, unit=near.shingle, ngram=near.ngram, num_perm=near.num_perm, seed=near.seed
                )
            feats.sigs, feats.sig_ok = sigs, ok & text_rows
            feats.bands = minhash.band_keys(sigs, near.bands, near.num_perm // near.bands)
    _image_features(feats, batch, images, params)
    sem = params.semantic
    raw = batch.artifacts.get(sem.artifact) if sem.enabled else None
    if raw is not None:
        feats.emb, feats.emb_ok = clean_embeddings(raw, n)
    return feats


def _image_features(feats: Features, batch: Batch, images: list[Image.Image | None], params: DedupParams) -> None:
    n = batch.num_rows
    ok = feats.image_ok
    raw: list[bytes | None] = _image_bytes(batch) if (params.exact.image_bytes or params.near_image.from_bytes) else []
    if params.exact.image_bytes:
        feats.bytes_key = np.zeros(n, dtype=np.uint64)
        feats.bytes_ok = np.zeros(n, dtype=np.bool_)
        for i in np.flatnonzero(ok).tolist():
            data = raw[i]
            if data:
                feats.bytes_key[i] = _digest(data)
                feats.bytes_ok[i] = True
    if params.exact.image_pixels:
        feats.pixel_key = np.zeros(n, dtype=np.uint64)
        for i in np.flatnonzero(ok).tolist():
            image = images[i]
            assert image is not None
            header = f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode()
            feats.pixel_key[i] = _digest(header + image.tobytes())
    if params.near_image.enabled:
        thumbs = np.zeros((n, 32, 32), dtype=np.float64)
        for i in np.flatnonzero(ok).tolist():
            thumbs[i] = phash.grey_thumbnail(_hash_source(images[i], raw, i, params), params.near_image.trim_borders)
        feats.ph, feats.ph_flip = phash.phash_batch(thumbs)
        side = params.near_image.min_side
        feats.ph_ok = ok & np.array([im is not None and min(im.size) >= side for im in images], dtype=np.bool_)


def _hash_source(image: Image.Image | None, raw: list[bytes | None], i: int, params: DedupParams) -> Image.Image:
    """The picture to hash: a reduced-size decode of the bytes when asked for (and possible), else the decoded one."""
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
