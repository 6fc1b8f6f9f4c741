"""The byte-level text features equal the pre-issue-15 ones (tests/stages/dedup/reference_text.py) exactly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.dedup import features, minhash, normalize, textbytes
from datahygiene.stages.dedup.dedup_stage import DedupStage
from datahygiene.stages.dedup.params import DedupParams

from . import reference_text as ref

# characters that exercise every rule: ASCII whitespace (split), U+001C..U+001F and Unicode spaces
# (trimmed at row ends only, NFKC maps some to spaces), fullwidth letters and ligatures (NFKC),
# case pairs whose lower case differs in length or needs context, combining marks, CJK, emoji, punctuation
ALPHABET = [
    *"abcXYZ0189 \t\n\r\x0b\x0c\x1c\x1f.,;:!?'\"-_()[]/\\@#",
    "\u00e9",
    "\u00c9",
    "\uff28",
    "\ufb01",
    "\u0130",
    "\u00df",
    "\u03a3",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\u0085",
    "\u1680",
    "\u0301",
    "\U0001f600",
    "\u4e2d",
    "\u00b2",
    "\u2460",
    "\u212b",
    "  ",
    "word",
    "Word",
]
EDGE_CASES = [
    "",
    " ",
    "\u3000abc\u3000",
    "\x1cabc\x1d",
    "abc \u00a0",
    "\u00a0 \u2028x",
    "\u2028",
    "x" * 5000,
    "(",
    "A \u00e9 b",
    "ﬁne ﬁsh, Straße ΣΊΣΥΦΟΣ",
    " \t\n ",
    "\x1c \x1c",
]


def corpus(seed: int, rows: int = 600) -> list[str | None]:
    rng = np.random.default_rng(seed)
    out: list[str | None] = []
    for _ in range(rows):
        if rng.random() < 0.05:
            out.append(None)
            continue
        k = int(rng.integers(0, 60)) if rng.random() < 0.9 else int(rng.integers(500, 3000))
        out.append("".join(ALPHABET[i] for i in rng.integers(0, len(ALPHABET), size=k)))
    return out + EDGE_CASES


@pytest.fixture(params=[1 << 20, 64, 7], ids=["1MiB-chunks", "64B-chunks", "7B-chunks"])
def chunk_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Tiny chunks put chunk boundaries everywhere (rows never split, long rows alone)."""
    monkeypatch.setattr(textbytes, "CHUNK_BYTES", request.param)
    textbytes._chunk_powers.cache_clear()
    yield request.param
    textbytes._chunk_powers.cache_clear()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_forms_keys_and_tokens_equal_the_reference(seed: int, chunk_bytes: int) -> None:
    texts = pa.array(corpus(seed), pa.string())
    exact, hashes, offsets = ref.analyse(texts)
    assert textbytes.exact_forms(texts).to_pylist() == exact.to_pylist()
    mine = textbytes.analyse(texts)
    keys, ok = ref.digest64(exact)
    assert mine.exact_ok.tolist() == ok.tolist()
    assert mine.exact_key.tolist() == keys.tolist()
    assert mine.token_offsets.tolist() == offsets.tolist()
    assert mine.token_hashes.tolist() == hashes.tolist()


def test_sliced_and_large_string_input(chunk_bytes: int) -> None:
    texts = pa.array(corpus(3), pa.string())
    for variant in (texts.slice(7, 300), texts.cast(pa.large_string()).slice(1)):
        exact, hashes, offsets = ref.analyse(variant)
        mine = textbytes.analyse(variant)
        assert mine.exact_key.tolist() == ref.digest64(exact)[0].tolist()
        assert mine.token_hashes.tolist() == hashes.tolist()
        assert mine.token_offsets.tolist() == offsets.tolist()


@pytest.mark.parametrize("ngram", [1, 2, 5, 9])
def test_shingles_and_signatures_equal_the_reference(ngram: int) -> None:
    rng = np.random.default_rng(ngram)
    counts = rng.integers(0, 14, size=400)
    counts[rng.random(400) < 0.3] = 0
    offsets = np.zeros(401, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    hashes = rng.integers(0, 2**63, size=int(offsets[-1]), dtype=np.uint64)
    grams, gram_offsets = normalize.shingles(hashes, offsets, ngram)
    ref_grams, ref_offsets = ref.shingles(hashes, offsets, ngram)
    assert grams.tolist() == ref_grams.tolist()
    assert gram_offsets.tolist() == ref_offsets.tolist()
    sigs, ok = minhash.signatures_from_tokens(hashes, offsets, ngram=ngram, num_perm=32, seed=3)
    assert ok.tolist() == (counts > 0).tolist()
    import rensa

    for row in np.flatnonzero(ok)[:50].tolist():  # each row's signature is rensa's over its shingles
        single = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            ref_grams[ref_offsets[row] : ref_offsets[row + 1]],
            np.array([0, ref_offsets[row + 1] - ref_offsets[row]], np.uint64),
            32,
            3,
        )
        assert sigs[row].tolist() == single.to_rows()[0]


def _reference_text_features(feats: features.Features, texts: pa.Array, params: DedupParams) -> None:
    """The stage's text features computed the pre-issue-15 way (whole batch, Arrow word lists)."""
    near = params.near_text
    exact, hashes, offsets = ref.analyse(texts)
    if params.exact.text:
        feats.text_key, feats.text_ok = ref.digest64(exact)
    if near.enabled:
        grams, gram_offsets = ref.shingles(hashes, offsets, near.ngram)
        per_row = np.diff(gram_offsets)
        sigs = np.zeros((len(per_row), near.num_perm), dtype=np.uint32)
        rows = np.flatnonzero(per_row > 0)
        if len(rows):
            import rensa

            sub = np.zeros(len(rows) + 1, dtype=np.uint64)
            np.cumsum(per_row[rows], out=sub[1:])
            matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(grams, sub, near.num_perm, near.seed)
            sigs[rows] = np.array(matrix.to_rows(), dtype=np.uint32)
        feats.sigs, feats.sig_ok = sigs, per_row > 0


def _near_copies(seed: int, rows: int) -> list[str | None]:
    """Documents with planted exact and near copies (a word changed, case and spacing changed)."""
    rng = np.random.default_rng(seed)
    base = [" ".join(f"w{int(v)}" for v in rng.integers(0, 400, size=int(rng.integers(5, 80)))) for _ in range(rows)]
    out: list[str | None] = []
    for i, text in enumerate(base):
        r = rng.random()
        if i > 10 and r < 0.15:
            src = out[int(rng.integers(0, i))] or ""
            words = src.split()
            if words and rng.random() < 0.5:
                words[int(rng.integers(len(words)))] = "CHANGED"
            out.append(("  ".join(words)).upper() if rng.random() < 0.3 else " ".join(words))
        elif r < 0.2:
            out.append(corpus(seed + i, 1)[0])
        else:
            out.append(text)
    return out


def _dup_columns(texts: list[str | None], batch_rows: int, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    stage = DedupStage(DedupParams.model_validate(params), StageContext())
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(texts), batch_rows):
        chunk = texts[start : start + batch_rows]
        ids = pa.array([f"r{i}" for i in range(start, start + len(chunk))])
        cols = stage.process(Batch(records=pa.record_batch({"id": ids, "text": pa.array(chunk, pa.string())})))
        out += list(zip(*(cols[name].to_pylist() for name in ("dup_of", "dup_kind", "dup_similarity")), strict=True))
    return out


@pytest.mark.parametrize("params", [{}, {"near_text": {"threshold": 0.5, "ngram": 3}}, {"exact": {"text": False}}])
def test_dup_columns_equal_the_reference_features(params: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _near_copies(5, 700)
    mine = _dup_columns(texts, 256, params)
    monkeypatch.setattr(features, "_text_features", _reference_text_features)
    assert mine == _dup_columns(texts, 256, params)
    assert sum(kind == "near" for _, kind, _ in mine) > 20
    exact = sum(kind == "exact" for _, kind, _ in mine)
    assert exact == 0 if params.get("exact") else exact > 20


def test_bulk_verified_candidates_decide_like_row_by_row_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    from datahygiene.stages.dedup import candidates

    texts = _near_copies(11, 900)
    params = {"near_text": {"threshold": 0.6, "ngram": 3}}
    bulk = _dup_columns(texts, 300, params)
    monkeypatch.setattr(candidates, "MAX_PAIRS", 0)  # every batch falls back to row-by-row verification
    assert bulk == _dup_columns(texts, 300, params)
    assert sum(kind == "near" for _, kind, _ in bulk) > 20
