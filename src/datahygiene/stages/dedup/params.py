"""Parameters of the ``dedup`` stage (one stage, one sub-config per kind)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from datahygiene.core.stage import StageParams
from datahygiene.stages.dedup.keep import KeepRule


class ExactParams(StageParams):
    """Exact duplicates: normalised text, image file bytes, decoded pixels."""

    text: bool = True
    image_bytes: bool = True
    image_pixels: bool = True


class NearTextParams(StageParams):
    """MinHash-LSH near-duplicate text."""

    enabled: bool = True
    shingle: Literal["word", "char"] = "word"
    ngram: int = Field(default=5, ge=1, le=64)
    num_perm: int = Field(default=128, ge=8, le=1024)
    bands: int = Field(default=21, ge=1)
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    seed: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _bands_fit(self) -> NearTextParams:
        if self.bands > self.num_perm:
            raise ValueError("bands must be <= num_perm")
        return self


class NearImageParams(StageParams):
    """pHash near-duplicate images."""

    enabled: bool = True
    radius: int = Field(default=8, ge=0, le=20)
    trim_borders: bool = True
    mirror: bool = True
    from_bytes: bool = False
    #: Images with a side shorter than this (pixels) are matched exactly only (bytes, pixels), never by pHash:
    #: below the hash's own 32x32 grid, different small pictures (28x28 digits) hash alike.
    min_side: int = Field(default=32, ge=0)


class SemanticParams(StageParams):
    """Cosine threshold on embeddings that an earlier stage left in ``batch.artifacts``."""

    enabled: bool = True
    artifact: str = "clip_image_embeddings"
    threshold: float = Field(default=0.95, gt=0.0, le=1.0)


class DedupParams(StageParams):
    """All dedup kinds; a row's strongest match wins (exact > near > semantic)."""

    exact: ExactParams = Field(default_factory=ExactParams)
    near_text: NearTextParams = Field(default_factory=NearTextParams)
    near_image: NearImageParams = Field(default_factory=NearImageParams)
    semantic: SemanticParams = Field(default_factory=SemanticParams)
    #: Text kinds also apply to rows that carry an image (captions); off by default.
    text_on_image_rows: bool = False
    #: Which copy of a cluster is kept (see ``dedup.keep``): first | largest | most_metadata | score.
    keep: KeepRule = "first"
    #: With ``keep: score``: the numeric column whose highest value is kept.
    keep_score: str | None = None
    #: Signal columns whose values the kept copy inherits from its duplicates (evidence columns go along).
    inherit: list[str] = Field(default_factory=lambda: ["copyright_signals", "synthetic_signals"])

    @model_validator(mode="after")
    def _score_column(self) -> DedupParams:
        if (self.keep == "score") != (self.keep_score is not None):
            raise ValueError("keep: score needs keep_score (a numeric column), and keep_score needs keep: score")
        return self

    def fingerprint(self) -> dict[str, Any]:
        """Settings that change index keys; a saved index must have been built with the same ones."""
        near, img = self.near_text, self.near_image
        return {
            "format": 1,
            "minhash": [near.shingle, near.ngram, near.num_perm, near.bands, near.seed],
            "phash": [img.radius, img.trim_borders, img.from_bytes],
        }
