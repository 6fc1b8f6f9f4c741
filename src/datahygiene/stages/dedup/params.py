"""Parameters of the ``dedup`` stage (one stage, one sub-config per kind)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from datahygiene.core.stage import StageParams


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

    def fingerprint(self) -> dict[str, Any]:
        """Settings that change index keys; a saved index must have been built with the same ones."""
        near, img = self.near_text, self.near_image
        return {
            "format": 1,
            "minhash": [near.shingle, near.ngram, near.num_perm, near.bands, near.seed],
            "phash": [img.radius, img.trim_borders, img.from_bytes],
        }
