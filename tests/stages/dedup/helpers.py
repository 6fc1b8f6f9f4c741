"""Builders for dedup test batches (all data made in code)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from datahygiene.core.columns import IMAGE_TYPE
from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.dedup.dedup_stage import DedupStage
from datahygiene.stages.dedup.params import DedupParams


def make_stage(context: StageContext | None = None, **params: Any) -> DedupStage:
    """A dedup stage with validated params."""
    return DedupStage(DedupParams.model_validate(params), context or StageContext())


def text_batch(ids: list[str], texts: Sequence[str | None]) -> Batch:
    """A text-only batch."""
    return Batch(records=pa.record_batch({"id": pa.array(ids), "text": pa.array(list(texts), type=pa.string())}))


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth random picture (blobs), distinct per seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    arr = np.zeros((h, w, 3))
    for _ in range(6):
        cx, cy, r = rng.random(3)
        colour = rng.random(3) * 255
        arr += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.02 + 0.05 * r))[..., None] * colour
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of a picture."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def image_batch(ids: list[str], blobs: Sequence[bytes | None], embeddings: Any = None) -> Batch:
    """An image batch as the runner builds it: the struct column plus decoded pictures (None when broken)."""
    images: list[Image.Image | None] = []
    for data in blobs:
        try:
            assert data is not None
            im = Image.open(io.BytesIO(data))
            im.load()
            images.append(im)
        except (AssertionError, OSError):
            images.append(None)
    column = pa.array([None if b is None else {"bytes": b, "path": None} for b in blobs], type=IMAGE_TYPE)
    records = pa.record_batch({"id": pa.array(ids), "text": pa.nulls(len(ids), pa.string()), "image": column})
    batch = Batch(records=records, images=images)
    if embeddings is not None:
        batch.artifacts["clip_image_embeddings"] = embeddings
    return batch


def column(out: dict[str, pa.Array], name: str) -> list[Any]:
    """One output column as Python values."""
    values: list[Any] = out[name].to_pylist()
    return values
