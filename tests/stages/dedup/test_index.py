"""The sorted-run key index answers lookups like a brute-force multimap, whatever the order of its inserts."""

from __future__ import annotations

import numpy as np
import pytest

from datahygiene.stages.dedup.index import KeyIndex


@pytest.mark.parametrize("growing", [True, False])
def test_lookup_matches_brute_force(growing: bool) -> None:
    rng = np.random.default_rng(1 if growing else 2)
    index = KeyIndex()
    pairs: set[tuple[int, int]] = set()
    next_rep = 0
    for _ in range(40):  # many adds: runs of every size get merged
        size = int(rng.integers(1, 300))
        keys = rng.integers(0, 500, size).astype(np.uint64)  # few distinct keys: many equal ones
        if growing:  # as the matcher publishes: representatives only grow
            reps = np.sort(rng.integers(next_rep, next_rep + 50, size)).astype(np.int64)
            next_rep += 50
        else:  # as an index read back from elsewhere may be: any order
            reps = rng.integers(0, 10_000, size).astype(np.int64)
        index.add(keys, reps)
        pairs.update(zip(keys.tolist(), reps.tolist(), strict=True))
    for keys, reps in index._runs:  # every run sorted by (key, rep)
        order = np.lexsort((reps, keys))
        assert np.array_equal(order, np.arange(len(keys)))
    queries = rng.integers(0, 600, 2000).astype(np.uint64)
    got_q, got_r = index.lookup(queries)
    expected = sorted({(q, r) for q, key in enumerate(queries.tolist()) for k, r in pairs if k == key})
    assert list(zip(got_q.tolist(), got_r.tolist(), strict=True)) == expected
    assert len(expected) > 1000
