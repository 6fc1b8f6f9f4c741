"""The cheap tier's hashed n-gram model: word and character n-grams, file round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datahygiene.stages.toxicity.ngram import NgramModel, hash_features, ngrams


def test_character_ngrams_are_added_only_on_request() -> None:
    assert ngrams(["you", "idiot"]) == ["you", "idiot", "you idiot"]
    grams = ngrams(["idiots"], chars=True)
    assert {"#<id", "#idi", "#iots>", "#ots>"} <= set(grams)
    assert "#<idiots>" not in grams  # 5-grams at most


def test_character_ngrams_let_a_variant_spelling_share_features() -> None:
    # "idiots" and "idiot" share no word n-gram but many character n-grams
    words = hash_features([["idiots"], ["idiot"]])
    chars = hash_features([["idiots"], ["idiot"]], chars=True)
    assert float((words[0] @ words[1].T).toarray()[0, 0]) == 0.0
    assert float((chars[0] @ chars[1].T).toarray()[0, 0]) > 0.5


def test_model_file_keeps_the_feature_kind(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    coef = np.where(rng.random(2**12) < 0.1, rng.normal(size=2**12), 0.0)
    for chars in (False, True):
        model = NgramModel(coef=coef, intercept=-1.0, provenance={"n": 1}, chars=chars)
        model.save(tmp_path / "m.npz")
        loaded = NgramModel.load(tmp_path / "m.npz")
        assert loaded.chars is chars
        assert loaded.provenance == {"n": 1}
        tokens = [["you", "idiots"], ["nice", "day"]]
        np.testing.assert_allclose(loaded.decision(tokens), model.decision(tokens), atol=1e-2)
    # character features change the scores of the same coefficients
    assert not np.allclose(
        NgramModel(coef=coef, intercept=0.0).decision([["idiots"]]),
        NgramModel(coef=coef, intercept=0.0, chars=True).decision([["idiots"]]),
    )
