"""NudeNet fallback on real scene photographs (no nudity) and on rows without images."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.nsfw.nudenet import NudeNetParams, NudeNetStage

EVAL = Path(
    os.environ.get("DATAHYGIENE_EVAL_DATA", Path(__file__).resolve().parents[3] / ".." / "shared" / "eval-data")
)
IMAGES = EVAL / "near-dup-images"


@pytest.mark.skipif(not IMAGES.is_dir(), reason="eval data directory absent")
def test_nudenet_scenes_score_low() -> None:
    paths = sorted(IMAGES.glob("*.jpg"))[:3]
    images: list[Image.Image | None] = [Image.open(p).convert("RGB") for p in paths]
    images.insert(1, None)
    stage = NudeNetStage(NudeNetParams(), StageContext(offline=True))
    records = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(images))]})
    out = stage.process(Batch(records=records, images=images))
    scores = out["nsfw"].to_pylist()
    assert scores[1] is None
    assert out["nsfw_labels"].to_pylist()[1] is None
    assert all(s is not None and s < 0.3 for i, s in enumerate(scores) if i != 1)
    assert len(stage.describe()["sha256"]) == 64
