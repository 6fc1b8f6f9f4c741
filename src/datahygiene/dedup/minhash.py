"""MinHash signatures (rensa) and LSH band keys for near-duplicate text."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import rensa

from datahygiene.dedup.normalize import mix64, near_normal_form, shingles, tokens

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]


def signatures(
    texts: pa.Array, *, unit: str, ngram: int, num_perm: int, seed: int, normalized: bool = False
) -> tuple[U32, npt.NDArray[np.bool_]]:
    """MinHash signatures ``[rows, num_perm]`` of the shingle sets, and a mask of rows that have shingles.

    ``texts`` are normalised with ``near_normal_form`` unless ``normalized`` says they already are.
    """
    normal = texts if normalized else near_normal_form(texts)
    hashes, offsets = tokens(normal, unit)
    grams, gram_offsets = shingles(hashes, offsets, ngram)
    valid = np.diff(gram_offsets) > 0
    lengths = pc.fill_null(pc.utf8_length(normal), 0).to_numpy(zero_copy_only=False)
    valid &= np.asarray(lengths, dtype=np.int64) > 0
    sigs = np.zeros((len(texts), num_perm), dtype=np.uint32)
    rows = np.flatnonzero(valid)
    if len(rows) == 0:
        return sigs, valid
    # rensa hashes only rows with shingles: rebuild the flat buffer for those rows.
    keep = np.repeat(valid, np.diff(gram_offsets))
    sub_offsets = np.zeros(len(rows) + 1, dtype=np.uint64)
    np.cumsum(np.diff(gram_offsets)[rows], out=sub_offsets[1:])
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        np.ascontiguousarray(grams[keep]), sub_offsets, num_perm, seed
    )
    flat = np.fromiter(itertools.chain.from_iterable(matrix.to_rows()), dtype=np.uint32, count=len(rows) * num_perm)
    sigs[rows] = flat.reshape(len(rows), num_perm)
    return sigs, valid


def band_keys(sigs: U32, bands: int, rows_per_band: int) -> U64:
    """One uint64 key per (row, band): a hash of the band's slice of the signature, salted by the band number."""
    n = len(sigs)
    keys = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            acc = np.full(n, b + 1, dtype=np.uint64)
            for value in sigs[:, b * rows_per_band : (b + 1) * rows_per_band].T:
                acc = mix64(acc * np.uint64(0x100000001B3) + value.astype(np.uint64))
            keys[:, b] = acc
    return keys


def estimated_jaccard(a: U32, b: U32) -> float:
    """Fraction of equal MinHash slots: an unbiased estimate of the Jaccard similarity."""
    return float(np.count_nonzero(a == b)) / len(a)
