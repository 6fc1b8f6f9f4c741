"""``toxicity.embedding``'s scorer: the cascade's pieces through the encoder and heads, combined, reduced per row.

Columns: ``tox_hate`` (the combiner's score, with the lexicon floor), ``tox_<label>`` per direct head (default: the
shipped abuse head), ``toxicity`` (their max), ``tox_tier`` (``transformer``: a scored piece gave the row its score;
``lexicon``: the lexicon floor did), ``tox_window`` (int32, index of the window that scored highest) and
``toxicity_evidence`` (list<string>: tier, windows and pieces scored, the top piece with its character span, the
lexicon terms). The encoder is anything with ``dim`` and ``encode(texts, batch_size) -> (n, dim) unit vectors``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from pydantic import Field

from datahygiene.core.stage import StageParams
from datahygiene.stages.lexicon.index import Hits
from datahygiene.stages.lexicon.lexicon import Lexicon, LexiconSpec
from datahygiene.stages.toxicity.cascade import CascadeSettings, RowPlan, plan_rows
from datahygiene.stages.toxicity.combine import Combiner
from datahygiene.stages.toxicity.minilm import (
    DEFAULT_HEADS,
    SHIPPED_COMBINER,
    SHIPPED_HATE_HEAD,
    SHIPPED_NGRAM,
    LinearHead,
)
from datahygiene.stages.toxicity.ngram import NgramModel
from datahygiene.stages.toxicity.runtime import Runtime
from datahygiene.stages.toxicity.textbatch import text_rows
from datahygiene.stages.weights import sha256_file

SNIPPET = 120
_WORD = re.compile(r"\w+")


class EmbeddingParams(StageParams):
    """Heads, combiner, n-gram model and lexicons (default: shipped), encoder folder, batching, cascade settings."""

    #: Heads scored directly, each its own ``tox_<label>`` column (default: the shipped abuse head). Files written by
    #: ``datahygiene calibrate --fit-head`` go here; ``hate`` is the combined score's label, so give yours another.
    head: Path | list[Path] | None = None
    #: Embedding head whose logit feeds the combiner (default: the shipped ``minilm_hate.json``).
    hate_head: Path | None = None
    #: Combiner file (default: shipped); ``null`` scores only the direct heads (no lexicon, no n-gram model).
    combiner: Path | None = Field(default_factory=lambda: SHIPPED_COMBINER)
    ngram: Path | None = None
    lexicon: dict[str, Any] = Field(default_factory=dict)
    encoder_dir: Path | None = None
    batch_size: int = 64
    max_length: int = 256
    #: Window size in characters (about ``max_length`` tokens of English prose).
    window_chars: int = Field(default=1000, ge=50)
    #: Counted lexicon severity from which the cheap tier sends a sentence to the transformer.
    flag_severity: float = 1.5
    #: Most transformer pieces per row (the first window always, then the most suspicious sentences and windows).
    max_pieces: int = Field(default=32, ge=1)
    #: Score every window and every sentence with the transformer (the reference the cascade is measured against).
    exhaustive: bool = False
    #: ``auto``: ONNX Runtime (fp32) on CPU when installed, torch on GPU; ``onnx-int8`` is opt-in (docs/scoring.md).
    runtime: Runtime = "auto"
    #: Texts of fewer words are too short for the model alone ("These", "them."): their scores are capped at
    #: ``short_cap``, and only the lexicon floor can take them higher.
    min_words: int = Field(default=3, ge=0)
    short_cap: float = Field(default=0.5, ge=0.0, le=1.0)


class TextEncoder(Protocol):
    """What the scorer needs from an encoder (the torch MiniLM, or an ONNX Runtime one)."""

    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length embeddings, shape (len(texts), dim)."""
        ...


class Scorer:
    """Loads heads, combiner, n-gram model and lexicons once; scores batches of texts."""

    def __init__(self, params: EmbeddingParams, encoder: TextEncoder) -> None:
        self.params = params
        self.encoder = encoder
        heads = params.head if params.head is not None else list(DEFAULT_HEADS)
        self.head_paths = heads if isinstance(heads, list) else [heads]
        self.heads = [LinearHead.load(path) for path in self.head_paths]
        labels = [head.label for head in self.heads]
        if len(set(labels)) != len(labels):
            raise ValueError(f"toxicity.embedding heads need distinct labels, got {labels}")
        self.combiner = Combiner.load(params.combiner) if params.combiner is not None else None
        if self.combiner is not None and "hate" in labels:
            raise ValueError("toxicity.embedding: 'hate' is the combined score's label; give your head another label")
        self.hate_path = params.hate_head or SHIPPED_HATE_HEAD
        self.hate = LinearHead.load(self.hate_path) if self.combiner is not None else None
        self.ngram_path = params.ngram or SHIPPED_NGRAM
        self.ngram = NgramModel.load(self.ngram_path) if self.combiner is not None else None
        self.lexicon = Lexicon(LexiconSpec(**params.lexicon)) if self.combiner is not None else None
        for path, head in zip([*self.head_paths, self.hate_path], [*self.heads, self.hate], strict=True):
            if head is not None and head.coef.shape != (encoder.dim,):
                raise ValueError(f"head {path} has {head.coef.size} weights, the encoder gives {encoder.dim}")
        self.settings = CascadeSettings(params.window_chars, params.flag_severity, params.max_pieces, params.exhaustive)
        self.labels = (["hate"] if self.combiner is not None else []) + labels
        self._bare = Lexicon(LexiconSpec(lists=[], ambiguous=False))

    def schema(self) -> pa.Schema:
        """Score columns, then ``tox_tier``, ``tox_window``, ``toxicity_evidence``."""
        fields = [(f"tox_{label}", pa.float32()) for label in self.labels] + [("toxicity", pa.float32())]
        fields += [("tox_tier", pa.string()), ("tox_window", pa.int32()), ("toxicity_evidence", pa.list_(pa.string()))]
        return pa.schema(fields)

    def _plans(self, texts: list[str], rows: list[int]) -> list[RowPlan]:
        if self.lexicon is None or self.ngram is None or self.combiner is None:
            whole = CascadeSettings(10**9, 9.0, 1, False)
            return plan_rows(texts, rows, self._bare, _NoNgram(), 0.0, whole)
        return plan_rows(texts, rows, self.lexicon, self.ngram, self.combiner.cheap_flag_logit, self.settings)

    def score(self, texts: list[str | None], batch_size: int) -> tuple[dict[str, pa.Array], np.ndarray]:
        """Columns for a batch and the (rows, dim) embeddings of each row's first window (zeros without text)."""
        n = len(texts)
        rows = text_rows(texts)
        strings = [str(t) if isinstance(t, str) else "" for t in texts]
        plans = self._plans(strings, rows)
        pieces = [(row, p) for row, plan in zip(rows, plans, strict=True) for p in plan.pieces]
        piece_text = [strings[row][p.start : p.end] for row, p in pieces]
        encoded = self.encoder.encode(piece_text, batch_size) if piece_text else np.zeros((0, self.encoder.dim))
        piece_scores = self._piece_scores(piece_text, encoded)
        embeddings = np.zeros((n, self.encoder.dim), dtype=np.float32)
        scores = np.full((n, len(self.labels)), np.nan, dtype=np.float32)
        tiers: list[str | None] = [None] * n
        windows: list[int | None] = [None] * n
        evidence: list[list[str] | None] = [None] * n
        cursor = 0
        for row, plan in zip(rows, plans, strict=True):
            count = len(plan.pieces)
            mine = piece_scores[cursor : cursor + count]
            embeddings[row] = encoded[cursor]
            scores[row], tiers[row], windows[row], evidence[row] = self._reduce(strings[row], plan, mine)
            cursor += count
        mask = np.isnan(scores[:, 0])
        columns = {f"tox_{lab}": pa.array(scores[:, j], pa.float32(), mask=mask) for j, lab in enumerate(self.labels)}
        worst = np.where(mask, 0, scores.max(axis=1, initial=-np.inf))
        columns["toxicity"] = pa.array(worst, pa.float32(), mask=mask)
        columns["tox_tier"] = pa.array(tiers, pa.string())
        columns["tox_window"] = pa.array(windows, pa.int32())
        columns["toxicity_evidence"] = pa.array(evidence, pa.list_(pa.string()))
        return columns, embeddings

    def _piece_scores(self, piece_text: list[str], encoded: np.ndarray) -> np.ndarray:
        """(pieces, labels) scores: the combined hate score (no floor) first, then each direct head."""
        columns = [head.predict(encoded) for head in self.heads]
        if self.combiner is not None and self.hate is not None and self.ngram is not None and self.lexicon is not None:
            prepared = [self.lexicon.prepare(t) for t in piece_text]
            hits = [self.lexicon.scan(*p) for p in prepared]
            hate_logit = encoded.astype(np.float64) @ self.hate.coef + self.hate.intercept
            ngram_logit = self.ngram.decision([p[1] for p in prepared])
            columns.insert(0, self.combiner.score(hate_logit, ngram_logit, hits))
        if not columns:
            return np.zeros((len(piece_text), 0), dtype=np.float32)
        scores = np.stack(columns, axis=1)
        short = np.asarray([len(_WORD.findall(t)) < self.params.min_words for t in piece_text], dtype=bool)
        scores[short] = np.minimum(scores[short], self.params.short_cap)  # the lexicon floor still applies per row
        return scores

    def _reduce(self, text: str, plan: RowPlan, mine: np.ndarray) -> tuple[np.ndarray, str, int, list[str]]:
        """Row scores (max over pieces, floored), deciding tier, top window and evidence lines."""
        row_scores = mine.max(axis=0)
        top = int(np.argmax(mine.max(axis=1)))
        piece = plan.pieces[top]
        tier, window = "transformer", piece.window
        floored = [i for i, h in enumerate(plan.hits) if h.floor]
        if self.combiner is not None and floored and row_scores[0] < self.combiner.floor:
            row_scores[0] = self.combiner.floor
            if row_scores[0] >= row_scores.max():
                tier, window = "lexicon", plan.window_of(floored[0])
        snippet = " ".join(text[piece.start : piece.end].split())[:SNIPPET]
        lines = [
            f"tier: {tier}",
            f"windows: {len(plan.windows)}; transformer pieces: {len(plan.pieces)}; cheap-flagged sentences: "
            f"{len(plan.flagged)}",
            f"top: window {piece.window} chars {piece.start}-{piece.end} score {float(mine[top].max()):.3f}: {snippet}",
        ]
        terms = _terms(plan.hits)
        if terms:
            lines.append(f"lexicon: {', '.join(terms)}")
        return row_scores, tier, window, lines

    def describe(self) -> dict[str, Any]:
        """Direct heads, hate head, combiner, n-gram model (paths, sha256, what they were trained on), lexicons."""
        out: dict[str, Any] = {
            "heads": [
                _file_entry(path, head.label, head.provenance)
                for path, head in zip(self.head_paths, self.heads, strict=True)
            ],
            "cascade": {"window_chars": self.settings.window_chars, "exhaustive": self.settings.exhaustive},
        }
        if self.combiner is not None and self.hate is not None and self.ngram is not None and self.lexicon is not None:
            assert self.params.combiner is not None
            out["hate_head"] = _file_entry(self.hate_path, "hate", self.hate.provenance)
            out["combiner"] = _file_entry(self.params.combiner, "toxicity", self.combiner.provenance)
            out["ngram"] = _file_entry(self.ngram_path, "toxic", self.ngram.provenance)
            out["lexicons"] = dict(sorted(self.lexicon.counts.items()))
        return out


def _file_entry(path: Path, label: str, provenance: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "path": str(path), "sha256": sha256_file(path), "trained_on": provenance.get("trained_on")}


def _terms(hits: list[Hits]) -> list[str]:
    out: list[str] = []
    for h in hits:
        out += [t for t in h.terms if t not in out]
    return out


class _NoNgram(NgramModel):
    """Stands in for the n-gram model when there is no combiner: every sentence logit is -inf (never flags)."""

    def __init__(self) -> None:
        super().__init__(coef=np.zeros(1), intercept=0.0)

    def decision(self, token_lists: list[list[str]]) -> np.ndarray:
        """-inf for every text."""
        return np.full(len(token_lists), -np.inf)
