"""The cheap tier's text model: hashed word uni- and bigrams (optionally character 3-5-grams within each word) of
normalised tokens, one logistic regression."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

N_FEATURES = 2**18


def ngrams(tokens: list[str], chars: bool = False) -> list[str]:
    """Unigrams and bigrams (``a b``) of a token list; with ``chars`` also ``#``-marked 3-5-grams of ``<token>``."""
    grams = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    if chars:
        for token in tokens:
            padded = f"<{token}>"
            grams += [f"#{padded[i : i + n]}" for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
    return grams


def hash_features(token_lists: list[list[str]], n_features: int = N_FEATURES, chars: bool = False) -> Any:
    """L2-normalised binary hashed n-gram features, a CSR matrix (rows, n_features)."""
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.preprocessing import normalize

    hasher = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=False)
    matrix = hasher.transform(ngrams(tokens, chars) for tokens in token_lists)
    matrix.data[:] = 1.0
    return normalize(matrix)


@dataclass
class NgramModel:
    """``sigmoid(features @ coef + intercept)`` over hashed n-grams; coefficients stored sparsely."""

    coef: np.ndarray
    intercept: float
    provenance: dict[str, Any] = field(default_factory=dict)
    #: Whether the features include character 3-5-grams of each token (see :func:`ngrams`).
    chars: bool = False

    def decision(self, token_lists: list[list[str]]) -> np.ndarray:
        """Logits, shape (n,)."""
        if not token_lists:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(
            hash_features(token_lists, self.coef.size, self.chars) @ self.coef + self.intercept, dtype=np.float64
        )

    def save(self, path: Path) -> None:
        """Non-zero coefficients (index, float16 value) and the intercept, as ``.npz`` + JSON provenance."""
        nonzero = np.flatnonzero(np.abs(self.coef) > 1e-4).astype(np.int32)
        np.savez_compressed(
            path,
            index=nonzero,
            value=self.coef[nonzero].astype(np.float16),
            size=np.int64(self.coef.size),
            intercept=np.float64(self.intercept),
            chars=np.bool_(self.chars),
            provenance=np.frombuffer(json.dumps(self.provenance).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: Path) -> NgramModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            coef = np.zeros(int(data["size"]), dtype=np.float64)
            coef[data["index"]] = data["value"].astype(np.float64)
            provenance = json.loads(bytes(data["provenance"]).decode())
            chars = bool(data["chars"]) if "chars" in data.files else False
            return cls(coef=coef, intercept=float(data["intercept"]), provenance=provenance, chars=chars)
