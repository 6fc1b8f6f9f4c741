"""One calibrated hate score from the embedding head, the n-gram model and the lexicon, plus the lexicon floor.

``logit = coef . [hate head logit, n-gram logit, severity / 3, slur, severe, identity, profane, insult] + intercept``
(a logistic regression fitted on out-of-fold base scores, see ``bench/train_toxicity.py``), mapped by
``sigmoid(scale * logit + shift)`` so that 0.8 (the default policy threshold) and 0.5 sit at fixed out-of-fold false
positive rates. An unambiguous lexicon hit of severity >= 2.0 outside a self-reference or quotation raises the score
to ``floor``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datahygiene.stages.lexicon.index import SEVERE, Hits

FEATURES: tuple[str, ...] = ("hate", "ngram", "severity", "slur", "severe", "identity", "profane", "insult")
FORMAT = "datahygiene-toxicity-combiner/1"
#: Counted severity from which an identity-category term counts as the ``identity`` feature.
IDENTITY_SEVERITY = 2.2


def lexicon_features(hits: Hits) -> list[float]:
    """``severity / 3, slur, severe, identity, profane, insult`` of one text's lexicon hits.

    ``identity`` needs an identity-category term of severity >= 2.2: Surge AI files sexist insults such as ``bitch``,
    ``hoe``, ``slut`` (1.4-2.0) under gender too, and those alone must not count as attacks on a group.
    """
    categories = set(hits.categories)
    mild_or_more = hits.severity > 1.0
    return [
        hits.severity / 3.0,
        float(hits.slur),
        float(hits.severity >= SEVERE),
        float(hits.identity >= IDENTITY_SEVERITY),
        float(mild_or_more and bool(categories & {"sexual", "excrement", "unrated", "user"})),
        float("insult" in categories),
    ]


@dataclass
class Combiner:
    """Coefficients over :data:`FEATURES`, the score mapping, the floor and the cheap tier's flag threshold."""

    coef: np.ndarray
    intercept: float
    scale: float
    shift: float
    floor: float = 0.9
    #: n-gram logit from which the cheap tier sends a sentence to the transformer.
    cheap_flag_logit: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)

    def score(self, hate_logit: np.ndarray, ngram_logit: np.ndarray, hits: list[Hits]) -> np.ndarray:
        """Mapped probabilities, shape (n,), without the floor."""
        if not hits:
            return np.zeros(0, dtype=np.float32)
        lexical = np.asarray([lexicon_features(h) for h in hits], dtype=np.float64)
        x = np.column_stack([hate_logit, ngram_logit, lexical])
        logit = x @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-(self.scale * logit + self.shift))), dtype=np.float32)

    def save(self, path: Path) -> None:
        """Write as JSON."""
        payload = {
            "format": FORMAT,
            "features": list(FEATURES),
            "coef": [float(f"{v:.8g}") for v in self.coef],
            "intercept": float(self.intercept),
            "scale": float(self.scale),
            "shift": float(self.shift),
            "floor": self.floor,
            "cheap_flag_logit": float(self.cheap_flag_logit),
            "provenance": self.provenance,
        }
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Combiner:
        """Read a file written by :meth:`save`; checks format and feature names."""
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") != FORMAT or tuple(payload.get("features", ())) != FEATURES:
            raise ValueError(f"{path} is not a {FORMAT} file over features {', '.join(FEATURES)}")
        return cls(
            coef=np.asarray(payload["coef"], dtype=np.float64),
            intercept=float(payload["intercept"]),
            scale=float(payload["scale"]),
            shift=float(payload["shift"]),
            floor=float(payload["floor"]),
            cheap_flag_logit=float(payload["cheap_flag_logit"]),
            provenance=dict(payload.get("provenance", {})),
        )
