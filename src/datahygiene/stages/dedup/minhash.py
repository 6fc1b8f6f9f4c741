"""MinHash signatures (rensa) and LSH band keys for near-duplicate text."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import rensa

from datahygiene.stages.dedup.normalize import mix64, near_normal_form, shingles, tokens
from datahygiene.stages.dedup.textbytes import analyse

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]


def signatures(
    texts: pa.Array, *, unit: str, ngram: int, num_perm: int, seed: int
) -> tuple[U32, npt.NDArray[np.bool_]]:
    """MinHash signatures ``[rows, num_perm]`` of the shingle sets, and a mask of rows that have shingles."""
    if unit == "word":
        analysed = analyse(texts, exact=False)
        hashes, offsets = analysed.token_hashes, analysed.token_offsets
    else:
        hashes, offsets = tokens(near_normal_form(texts), unit)
    return signatures_from_tokens(hashes, offsets, ngram=ngram, num_perm=num_perm, seed=seed)


def signatures_from_tokens(
    hashes: U64, offsets: npt.NDArray[np.int64], *, ngram: int, num_perm: int, seed: int
) -> tuple[U32, npt.NDArray[np.bool_]]:
    """MinHash signatures from token hashes and row offsets (rows without tokens get ``ok = False``)."""
    grams, gram_offsets = shingles(hashes, offsets, ngram)
    per_row = np.diff(gram_offsets)
    valid = per_row > 0  # a row has shingles exactly when it has tokens
    sigs = np.zeros((len(per_row), num_perm), dtype=np.uint32)
    rows = np.flatnonzero(valid)
    if len(rows) == 0:
        return sigs, valid
    # rensa hashes only rows with shingles: their shingles are the whole flat buffer, in order
    sub_offsets = np.zeros(len(rows) + 1, dtype=np.uint64)
    np.cumsum(per_row[rows], out=sub_offsets[1:])
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(grams, sub_offsets, num_perm, seed)
    sigs[rows] = np.array(matrix.to_rows(), dtype=np.uint32).reshape(len(rows), num_perm)
    return sigs, valid


def band_keys(sigs: U32, bands: int, rows_per_band: int) -> U64:
    """One uint64 key per (row, band): a hash of the band's slice of the signature, salted by the band number."""
    n = len(sigs)
    used = sigs[:, : bands * rows_per_band].reshape(n, bands, rows_per_band).astype(np.uint64)
    # distinct odd multipliers per slot, then one SplitMix finaliser per key
    weights = mix64(np.arange(1, rows_per_band + 1, dtype=np.uint64)) | np.uint64(1)
    salt = mix64(np.arange(bands, dtype=np.uint64) + np.uint64(0x51ED))
    with np.errstate(over="ignore"):
        combined = (used * weights[None, None, :]).sum(axis=2, dtype=np.uint64) + salt[None, :]
    return mix64(combined.reshape(-1)).reshape(n, bands)


def estimated_jaccard(a: U32, b: U32) -> float:
    """Fraction of equal MinHash slots: an unbiased estimate of the Jaccard similarity."""
    return float(np.count_nonzero(a == b)) / len(a)
