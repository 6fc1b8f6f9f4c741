"""Features computed slice by slice ahead of the matcher equal the whole batch's."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from datahygiene.stages.dedup.features import compute, compute_ahead
from datahygiene.stages.dedup.params import DedupParams

from .helpers import text_batch


def test_slices_computed_ahead_equal_the_whole_batch() -> None:
    rng = np.random.default_rng(4)
    wide = "\uff37\uff29\uff24\uff25"  # fullwidth WIDE: NFKC folds it
    words = [f"w{i}" for i in range(400)] + ["Ünïcode", "naïve", wide, "a.b,c"]
    texts: list[str | None] = [
        " ".join(words[i] for i in rng.integers(len(words), size=int(rng.integers(0, 60)))) for _ in range(1000)
    ]
    texts[7], texts[500], texts[501] = None, "", texts[3]
    batch = text_batch([f"r{i}" for i in range(len(texts))], texts)
    params = DedupParams()
    whole = compute(batch, params)
    parts = list(compute_ahead(batch, params, 300))
    assert [(lo, hi) for lo, hi, _ in parts] == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    for spec in fields(whole):
        value = getattr(whole, spec.name)
        if spec.name == "rows" or value is None:
            continue
        joined = np.concatenate([getattr(part, spec.name) for _, _, part in parts])
        assert np.array_equal(joined, value), spec.name
    assert whole.sig_ok is not None
    assert whole.sig_ok.sum() > 900
