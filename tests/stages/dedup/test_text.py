"""Exact and MinHash near-duplicate text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.stages.dedup.minhash import estimated_jaccard, signatures
from datahygiene.stages.dedup.normalize import (
    exact_normal_form,
    hash_strings,
    near_normal_form,
    shingles,
    tokens,
)

from . import reference_text
from .helpers import column, make_stage, text_batch

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
]


def doc(seed: int, n: int = 80) -> list[str]:
    rng = np.random.default_rng(seed)
    return [WORDS[i] + str(rng.integers(50)) for i in rng.integers(len(WORDS), size=n)]


def test_normal_form_folds_unicode_case_and_whitespace() -> None:
    out = exact_normal_form(pa.array(["  \uff28\uff45\uff4c\uff4c\uff4f\t\nWORLD ", None])).to_pylist()
    assert out == ["hello world", None]


def test_hash_strings_is_stable_and_discriminates() -> None:
    a = hash_strings(pa.array(["abc", "abd", "abc", ""]))
    assert a[0] == a[2]
    assert len(set(a.tolist())) == 3
    # fixed across processes and versions: the index on disk depends on it
    assert int(hash_strings(pa.array(["abc"]))[0]) == int(hash_strings(pa.array(["x", "abc"]))[1])


def test_shingles_cover_short_rows_and_respect_boundaries() -> None:
    hashes, offsets = tokens(pa.array(["a b c d", "e", "", "a b c"]), "word")
    grams, g_off = shingles(hashes, offsets, 3)
    assert np.diff(g_off).tolist() == [2, 1, 1, 1]
    assert grams[0] == grams[4]  # "a b c" in row 0 and row 3


def test_minhash_estimate_tracks_true_jaccard() -> None:
    base = doc(1, 400)
    edited = base[:300] + doc(2, 100)
    sigs, ok = signatures(pa.array([" ".join(base), " ".join(edited)]), unit="word", ngram=1, num_perm=256, seed=3)
    assert ok.all()
    true = len(set(base) & set(edited)) / len(set(base) | set(edited))
    assert abs(estimated_jaccard(sigs[0], sigs[1]) - true) < 0.1


def test_exact_and_near_text_first_in_input_order_keeps() -> None:
    a = doc(1)
    near = a.copy()
    near[40] = "changed"
    texts = [" ".join(a), " ".join(doc(2)), " ".join(a).upper() + "  ", " ".join(near), None, "", " ".join(doc(3))]
    stage = make_stage()
    out = stage.process(text_batch([f"r{i}" for i in range(len(texts))], texts))
    assert column(out, "dup_of") == [None, None, "r0", "r0", None, None, None]
    assert column(out, "dup_kind") == [None, None, "exact", "near", None, None, None]
    sims = column(out, "dup_similarity")
    assert sims[2] == 1.0
    assert 0.8 <= sims[3] < 1.0


def test_pairs_below_threshold_do_not_merge() -> None:
    a = doc(5, 100)
    half = a[:50] + doc(6, 50)  # J around 0.3 on 5-grams
    out = make_stage().process(text_batch(["a", "b"], [" ".join(a), " ".join(half)]))
    assert column(out, "dup_kind") == [None, None]


def test_duplicates_found_across_batches_and_representatives_are_kept_rows() -> None:
    stage = make_stage()
    a = " ".join(doc(1))
    first = stage.process(text_batch(["x1", "x2"], [a, a]))
    second = stage.process(text_batch(["y1"], [a]))
    assert column(first, "dup_of") == [None, "x1"]
    assert column(second, "dup_of") == ["x1"]


@pytest.mark.parametrize("unit", ["word", "char"])
def test_shingle_units_both_find_near_duplicates(unit: str) -> None:
    a = doc(9, 120)
    b = a.copy()
    b[60] = "zzz"
    stage = make_stage(near_text={"shingle": unit, "ngram": 5 if unit == "word" else 9, "threshold": 0.7})
    out = stage.process(text_batch(["a", "b", "c"], [" ".join(a), " ".join(b), " ".join(doc(10, 120))]))
    assert column(out, "dup_kind") == [None, "near", None]


def test_bad_params_fail_validation() -> None:
    with pytest.raises(ValueError, match="bands"):
        make_stage(near_text={"num_perm": 16, "bands": 32})


def test_vocabulary_pass_matches_whole_text_normal_forms() -> None:
    texts = pa.array(["  Hello, World!  (c) \uff46\uff4f\uff4f", "", None, "don't  stop\tNOW", "(", "A \u00e9 b"])
    exact, hashes, offsets = reference_text.analyse(texts)  # the frozen vocabulary pass the byte-level code must equal
    assert exact.to_pylist() == exact_normal_form(texts).to_pylist()
    ref_hashes, ref_offsets = tokens(near_normal_form(texts), "word")
    for row in range(len(texts)):
        mine = hashes[offsets[row] : offsets[row + 1]].tolist()
        ref = ref_hashes[ref_offsets[row] : ref_offsets[row + 1]].tolist()
        empty = hash_strings(pa.array([""])).tolist()
        assert mine == (ref if ref != empty else [])


def test_stored_hashes_never_change() -> None:
    """The cross-run dedup index stores these values: a change to a primitive must be a deliberate index break."""
    from datahygiene.stages.dedup.normalize import base_form, digest64, mix64, near_from_base

    assert mix64(np.array([0, 1, 2], dtype=np.uint64)).tolist() == [0, 6238072747940578789, 15839785061582574730]
    assert hash_strings(pa.array(["", "a", "hello world"])).tolist() == [0, 17360999193197444373, 1961651145263324668]
    assert base_form(pa.array(["\uff26\uff4f\uff4f \u00c9 Bar"])).to_pylist() == ["foo \u00e9 bar"]
    assert near_from_base(base_form(pa.array(["Don't-stop, NOW!"]))).to_pylist() == ["don t stop  now "]
    assert digest64(pa.array(["abc", "", None]))[0].tolist() == [6455300059550759896, 0, 0]
    four = hash_strings(pa.array(["a", "b", "c", "d"]))
    assert shingles(four, np.array([0, 3, 4], dtype=np.int64), 2)[0].tolist() == [
        4813439960552123514,
        12662688581023581802,
        16933112634560499794,
    ]
